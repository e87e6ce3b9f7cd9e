// An Azure Monitor workbook deployed with the app: per tenant and stream the export lag, items, failures and Graph
// throttling (from the "export summary {json}" line every run logs), and the use of the HTTP actions. It reads the
// Log Analytics workspace the function app's Application Insights component writes to.

@description('Display name of the workbook.')
param displayName string

@description('Azure region.')
param location string

@description('Tags for the workbook.')
param tags object = {}

@description('Resource id of the Log Analytics workspace.')
param logAnalyticsWorkspaceId string

// The same parsing as the export-lag alert (alerts.bicep): one JSON object per run after "export summary ".
var summaries = '''
AppTraces
| where TimeGenerated > ago(1d)
| where Message startswith "export summary {"
| extend run = parse_json(substring(Message, strlen("export summary ")))
| where isempty(tostring(run.backfill))
| extend tenant = tostring(run.tenant), stream = tostring(run.stream), status = tostring(run.status)
'''

var perStreamQuery = '${summaries}| summarize runs = count(), failures = countif(status == "failed"), items = sum(toint(run.items)), blobs = sum(toint(run.blobs)), graph429s = sum(toint(run.throttled)), lastLagSeconds = take_anyif(todouble(run.lag_seconds), isnotnull(run.lag_seconds)), lastSuccess = maxif(TimeGenerated, status in ("ok", "partial")), lastError = take_anyif(tostring(run.error), status == "failed") by tenant, stream\n| order by tenant asc, stream asc'

var lagChartQuery = '${summaries}| where isnotnull(run.lag_seconds)\n| summarize lagMinutes = max(todouble(run.lag_seconds)) / 60 by bin(TimeGenerated, 15m), series = strcat(tenant, " / ", stream)\n| render timechart'

var actionsQuery = '''
AppRequests
| where TimeGenerated > ago(1d)
| where Name startswith "actions_"
| summarize calls = count(), failed = countif(Success == false), p95Ms = percentile(DurationMs, 95) by action = Name, resultCode = ResultCode
| order by calls desc
'''

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'intro'
      content: {
        json: '## Graph Security Bridge\nLast 24 hours. One row per tenant and stream; lag is how far the export cursor is behind now.'
      }
    }
    {
      type: 3
      name: 'per-stream'
      content: {
        version: 'KqlItem/1.0'
        title: 'Exports per tenant and stream'
        query: perStreamQuery
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
        visualization: 'table'
        size: 0
      }
    }
    {
      type: 3
      name: 'lag'
      content: {
        version: 'KqlItem/1.0'
        title: 'Export lag (minutes)'
        query: lagChartQuery
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
        visualization: 'timechart'
        size: 0
      }
    }
    {
      type: 3
      name: 'actions'
      content: {
        version: 'KqlItem/1.0'
        title: 'HTTP actions'
        query: actionsQuery
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
        visualization: 'table'
        size: 0
      }
    }
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, logAnalyticsWorkspaceId, displayName)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: logAnalyticsWorkspaceId
    serializedData: string(workbookContent)
  }
}

output id string = workbook.id
