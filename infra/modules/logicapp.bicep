// Sample Logic App (Consumption) that triages an alert through the function app: POST {"alertId": "...",
// "update": {...}} to the workflow's trigger URL and it sends PATCH /api/alerts/{alertId} with the update as body.
// The function key never appears in the template, the deployment history or the run history: at run time the
// workflow reads it from Key Vault with its own managed identity (Key Vault Secrets User on that one secret) and
// the HTTP actions are marked secure. Copy the two HTTP actions into your own playbooks.

@description('Workflow name.')
param name string

@description('Azure region.')
param location string

@description('Tags for the workflow.')
param tags object = {}

@description('Default host name of the function app.')
param functionAppHostName string

@description('Key Vault that holds the function key.')
param keyVaultName string

@description('Name of the secret that holds the function key of this workflow.')
param functionKeySecretName string

@description('Resource id of the Log Analytics workspace that receives the run history (WorkflowRuntime).')
param logAnalyticsWorkspaceId string

var keyVaultSecretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'
// Token audience of Key Vault in the current cloud: '.vault.azure.net' -> 'https://vault.azure.net'.
var keyVaultAudience = 'https://${substring(environment().suffixes.keyvaultDns, 1)}'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource functionKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: functionKeySecretName
}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      triggers: {
        manual: {
          type: 'Request'
          kind: 'Http'
          inputs: {
            method: 'POST'
            schema: {
              type: 'object'
              properties: {
                alertId: {
                  type: 'string'
                }
                update: {
                  type: 'object'
                }
              }
              required: [
                'alertId'
                'update'
              ]
            }
          }
        }
      }
      actions: {
        Get_function_key: {
          type: 'Http'
          inputs: {
            method: 'GET'
            uri: '${vault.properties.vaultUri}secrets/${functionKeySecretName}?api-version=7.4'
            authentication: {
              type: 'ManagedServiceIdentity'
              audience: keyVaultAudience
            }
          }
          runtimeConfiguration: {
            secureData: {
              properties: [
                'inputs'
                'outputs'
              ]
            }
          }
        }
        Triage_alert: {
          type: 'Http'
          runAfter: {
            Get_function_key: [
              'Succeeded'
            ]
          }
          inputs: {
            method: 'PATCH'
            uri: 'https://${functionAppHostName}/api/alerts/@{encodeUriComponent(triggerBody()?[\'alertId\'])}'
            headers: {
              'Content-Type': 'application/json'
              'x-functions-key': '@{body(\'Get_function_key\')?[\'value\']}'
            }
            body: '@triggerBody()?[\'update\']'
            retryPolicy: {
              type: 'exponential'
              count: 4
              interval: 'PT10S'
            }
          }
          runtimeConfiguration: {
            secureData: {
              properties: [
                'inputs'
              ]
            }
          }
        }
        Response: {
          type: 'Response'
          kind: 'Http'
          runAfter: {
            Triage_alert: [
              'Succeeded'
              'Failed'
            ]
          }
          inputs: {
            statusCode: '@outputs(\'Triage_alert\')?[\'statusCode\']'
            body: '@body(\'Triage_alert\')'
          }
        }
      }
      outputs: {}
    }
  }
}

resource workflowSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(functionKeySecret.id, workflow.id, keyVaultSecretsUserRole)
  scope: functionKeySecret
  properties: {
    principalId: workflow.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRole)
  }
}

// Runs, triggers and actions with their status (inputs and outputs of the secure actions stay hidden).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workflow
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'WorkflowRuntime'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = workflow.name
