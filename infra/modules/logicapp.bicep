// Sample playbook (Logic App, Consumption): on every new high-severity alert, read it, comment on it and assign it,
// through the function app (docs/logic-apps.md, "The sample playbook").
//
// - Trigger: the app's polling trigger GET /api/triggers/alerts?severity=high&status=new, with Logic Apps' built-in
//   HTTP trigger, which follows the polling contract (202 + Location + Retry-After: nothing new; 200: the new
//   versions). splitOn starts one run per alert. It reads the export, not Graph.
// - Actions: GET /api/alerts/{id} (read it as it is now), then, if nobody took it meanwhile, POST
//   /api/alerts/{id}/comments (with an Idempotency-Key, so a retry does not comment twice) and PATCH
//   /api/alerts/{id} (assignedTo and status inProgress: the alert's next version is no longer "new", so it does not
//   start the playbook again).
// - The function key (a function-scoped key, set by the azd postdeploy hook on exactly the four functions above):
//   the actions read it from Key Vault at run time with the workflow's managed identity (Key Vault Secrets User on
//   that one secret). A trigger runs before any action, so it cannot read the vault: it gets the same key as a
//   securestring workflow parameter at deployment. Neither appears in the template, the deployment history or the
//   run history (secure parameter; the key-bearing inputs and the vault's answer are marked secure).

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

@description('The same function key, for the trigger (it polls before any action could read the vault).')
@secure()
param triggerFunctionKey string

@description('Owner the playbook assigns alerts to (alerts_v2 assignedTo, usually a user principal name).')
param assignee string

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
    parameters: {
      functionKey: {
        value: triggerFunctionKey
      }
      assignee: {
        value: assignee
      }
    }
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {
        functionKey: {
          type: 'securestring'
        }
        assignee: {
          type: 'string'
        }
      }
      triggers: {
        When_a_high_severity_alert_is_new: {
          type: 'Http'
          recurrence: {
            frequency: 'Minute'
            interval: 1
          }
          inputs: {
            method: 'GET'
            uri: 'https://${functionAppHostName}/api/triggers/alerts'
            queries: {
              severity: 'high'
              status: 'new'
            }
            headers: {
              'x-functions-key': '@{parameters(\'functionKey\')}'
            }
          }
          splitOn: '@triggerBody()?[\'value\']'
          runtimeConfiguration: {
            secureData: {
              properties: [
                'inputs'
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
        Read_alert: {
          type: 'Http'
          runAfter: {
            Get_function_key: [
              'Succeeded'
            ]
          }
          inputs: {
            method: 'GET'
            uri: 'https://${functionAppHostName}/api/alerts/@{encodeUriComponent(triggerBody()?[\'id\'])}'
            headers: {
              'x-functions-key': '@{body(\'Get_function_key\')?[\'value\']}'
            }
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
        Still_new_and_unassigned: {
          type: 'If'
          runAfter: {
            Read_alert: [
              'Succeeded'
            ]
          }
          expression: {
            and: [
              {
                equals: [
                  '@toLower(coalesce(body(\'Read_alert\')?[\'status\'], \'\'))'
                  'new'
                ]
              }
              {
                equals: [
                  '@empty(coalesce(body(\'Read_alert\')?[\'assignedTo\'], \'\'))'
                  true
                ]
              }
            ]
          }
          actions: {
            Comment_on_alert: {
              type: 'Http'
              inputs: {
                method: 'POST'
                uri: 'https://${functionAppHostName}/api/alerts/@{encodeUriComponent(triggerBody()?[\'id\'])}/comments'
                headers: {
                  'Content-Type': 'application/json'
                  'Idempotency-Key': '@{workflow()?[\'run\']?[\'name\']}-comment'
                  'x-functions-key': '@{body(\'Get_function_key\')?[\'value\']}'
                }
                body: {
                  comment: 'Taken by playbook @{workflow()?[\'name\']} (run @{workflow()?[\'run\']?[\'name\']}): high-severity alert from @{body(\'Read_alert\')?[\'serviceSource\']}, assigned to @{parameters(\'assignee\')}.'
                }
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
            Assign_alert: {
              type: 'Http'
              runAfter: {
                Comment_on_alert: [
                  'Succeeded'
                ]
              }
              inputs: {
                method: 'PATCH'
                uri: 'https://${functionAppHostName}/api/alerts/@{encodeUriComponent(triggerBody()?[\'id\'])}'
                headers: {
                  'Content-Type': 'application/json'
                  'x-functions-key': '@{body(\'Get_function_key\')?[\'value\']}'
                }
                body: {
                  assignedTo: '@parameters(\'assignee\')'
                  status: 'inProgress'
                }
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
          }
          else: {
            actions: {}
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
