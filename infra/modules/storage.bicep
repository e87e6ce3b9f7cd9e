// One hardened storage account: Entra ID (RBAC) only, no shared keys, no anonymous blob access, TLS 1.2, HTTPS only.
// main.bicep uses it twice: for the Functions host (AzureWebJobsStorage and the deployment package) and for the
// app's data (exports, checkpoints, audit trail, notification queue). Two accounts keep the host's own secrets
// (function keys live in azure-webjobs-secrets) and the broad Blob Data Owner role the host needs away from the
// security data that SIEMs read.

@description('Storage account name: 3-24 lowercase letters and digits, unique in Azure.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Replication. Geo-redundant by default: the exports are security records.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_GRS'

@description('Blob containers to create (all private).')
param containerNames array = []

@description('Storage queues to create.')
param queueNames array = []

@description('Container whose blobs the lifecycle policy moves to cool and deletes; empty: no policy.')
param lifecycleContainerName string = ''

@description('Days after the last write before a blob in the lifecycle container moves to the cool tier (0: never).')
@minValue(0)
param coolAfterDays int = 30

@description('Days after the last write before a blob in the lifecycle container is deleted.')
@minValue(1)
param deleteAfterDays int = 365

@description('Days a deleted blob or container can be restored (soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: without VNet integration Flex Consumption reaches storage over its public endpoint; access stays Entra ID only (shared keys off)
  // checkov:skip=CKV_AZURE_59: public endpoint needed by the Flex host, Event Grid and SIEM readers; every request needs an Entra ID token and an RBAC role
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // No account keys and no SAS signed with them: every caller (host, app, Event Grid, SIEM) uses Entra ID.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        queue: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Exports are immutable files a SIEM reads soon after they are written: move them to the cool tier after
// coolAfterDays and delete them after deleteAfterDays. Cool has a 30-day minimum, so a blob deleted earlier than 30
// days after it moved is billed for the rest of those days.
var tierToCool = coolAfterDays > 0 && coolAfterDays < deleteAfterDays ? {
  tierToCool: {
    daysAfterModificationGreaterThan: coolAfterDays
  }
} : {}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(lifecycleContainerName)) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'export-retention'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${lifecycleContainerName}/'
              ]
            }
            actions: {
              baseBlob: union(tierToCool, {
                delete: {
                  daysAfterModificationGreaterThan: deleteAfterDays
                }
              })
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
