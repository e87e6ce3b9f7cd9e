// Alert rules that tell an operator when the bridge is not doing its job, and the optional action group that
// e-mails them. Every log query reads a table the deployment fills: AppRequests and AppTraces (the workspace-based
// Application Insights component of the function app), StorageQueueLogs (the data account's queue diagnostic
// setting). tests/unit/test_infra.py checks the tables, the columns and that the export-lag query parses exactly
// the line shared/export/engine.py logs ("export summary {json}", RunSummary.log_line).

@description('Prefix of the rule names.')
param namePrefix string

@description('Azure region of the log alert rules.')
param location string

@description('Tags for every rule.')
param tags object = {}

@description('Resource id of the Log Analytics workspace (Application Insights and the diagnostic settings write there).')
param logAnalyticsWorkspaceId string

@description('Resource id of the Key Vault; empty: no vault, no Key Vault rule.')
param keyVaultId string = ''

@description('E-mail address that receives the alerts; empty: the rules fire in the portal only (no action group).')
param alertEmail string = ''

@description('Minutes without a successful export run of a (tenant, stream) before the export-lag rule fires.')
@minValue(15)
@maxValue(300)
param exportLagMinutes int = 60

@description('Poison queue of the change-notification queue (the Functions host moves a message there after its last failed attempt).')
param poisonQueueName string

var sendEmail = !empty(alertEmail)
var actionGroupName = '${namePrefix}-operators'
// By resourceId, not actionGroup.id: a conditional resource's properties may be null for the compiler (BCP318).
var actionGroupId = resourceId('Microsoft.Insights/actionGroups', actionGroupName)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (sendEmail) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'graphbridge'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = {
  actionGroups: sendEmail ? [
    actionGroupId
  ] : []
}

// Function invocations that failed: an export timer fails when a stream fails for a tenant (functions/export.py),
// the queue processor when a notification cannot be handled, an HTTP function on an unhandled error.
var functionFailuresQuery = '''
AppRequests
| where Success == false
| summarize failures = count() by FunctionName = Name
'''

// A message in the poison queue is a change notification the app gave up on after its last attempt.
var poisonQueueQueryTemplate = '''
StorageQueueLogs
| where OperationName == "PutMessage" and StatusText == "Success"
| where Uri contains "/{poisonQueue}/messages"
| summarize poisoned = count()
'''

// Export lag: minutes since the last run of each (tenant, stream) that made progress (status ok, or partial:
// the time budget was spent and the next run resumes). Every run logs one line "export summary {json}"
// (shared/export/engine.py, RunSummary.log_line); backfills are left out. A (tenant, stream) whose runs all failed
// in the window counts as lagging for the whole window; no summary at all in the window (the app does not run)
// is one row for tenant "*" and stream "*".
var exportLagQuery = '''
let window = 6h;
let summaries = AppTraces
| where Message startswith "export summary {"
| extend run = parse_json(substring(Message, strlen("export summary ")))
| where isempty(tostring(run.backfill));
summaries
| summarize lastProgress = maxif(TimeGenerated, tostring(run.status) in ("ok", "partial")) by tenant = tostring(run.tenant), stream = tostring(run.stream)
| extend lagMinutes = iff(isnull(lastProgress), window / 1m, (now() - lastProgress) / 1m)
| union (summaries | summarize runs = count() | where runs == 0 | project tenant = "*", stream = "*", lagMinutes = window / 1m)
| project tenant, stream, lagMinutes
'''

resource functionFailures 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-function-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'Graph Security Bridge: function failures'
    description: 'A function invocation failed (an export stream for a tenant, a notification, an HTTP action). See the exception in Application Insights.'
    severity: 2
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    // A new workspace may not yet have received a row of the table (StorageQueueLogs before the first queue
    // operation): Azure would refuse the rule at creation. tests/unit/test_infra.py checks tables and columns.
    skipQueryValidation: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: functionFailuresQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'FunctionName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
  dependsOn: [
    actionGroup
  ]
}

resource poisonMessages 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-poison-messages'
  location: location
  tags: tags
  properties: {
    displayName: 'Graph Security Bridge: change notifications in the poison queue'
    description: 'The Functions host moved a change notification to ${poisonQueueName} after its last failed attempt. The timers still export the data; look at the processor errors.'
    severity: 3
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    // A new workspace may not yet have received a row of the table (StorageQueueLogs before the first queue
    // operation): Azure would refuse the rule at creation. tests/unit/test_infra.py checks tables and columns.
    skipQueryValidation: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: replace(poisonQueueQueryTemplate, '{poisonQueue}', poisonQueueName)
          timeAggregation: 'Total'
          metricMeasureColumn: 'poisoned'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
  dependsOn: [
    actionGroup
  ]
}

resource exportLag 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-export-lag'
  location: location
  tags: tags
  properties: {
    displayName: 'Graph Security Bridge: export lag'
    description: 'A stream of a tenant has not exported successfully for more than ${exportLagMinutes} minutes. GET /api/export/status names its last error.'
    severity: 2
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    // A new workspace may not yet have received a row of the table (StorageQueueLogs before the first queue
    // operation): Azure would refuse the rule at creation. tests/unit/test_infra.py checks tables and columns.
    skipQueryValidation: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT6H'
    criteria: {
      allOf: [
        {
          query: exportLagQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'lagMinutes'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'stream'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: exportLagMinutes
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
  dependsOn: [
    actionGroup
  ]
}

// Key Vault answered 401 or 403: a Key Vault reference of the app (or the Logic App, or the deploying user's hook)
// was refused, so a webhook key or an app-registration credential is not reaching its consumer.
resource keyVaultAccessFailures 'Microsoft.Insights/metricAlerts@2018-03-01' = if (!empty(keyVaultId)) {
  name: '${namePrefix}-key-vault-access-failures'
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault refused a request (401 or 403). The AuditEvent log in Log Analytics names the caller and the secret.'
    severity: 2
    enabled: true
    scopes: [
      keyVaultId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'refused'
          metricNamespace: 'Microsoft.KeyVault/vaults'
          metricName: 'ServiceApiResult'
          dimensions: [
            {
              name: 'StatusCode'
              operator: 'Include'
              values: [
                '401'
                '403'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: sendEmail ? [
      {
        actionGroupId: actionGroupId
      }
    ] : []
  }
  dependsOn: [
    actionGroup
  ]
}

output ruleNames array = [
  functionFailures.name
  poisonMessages.name
  exportLag.name
]
