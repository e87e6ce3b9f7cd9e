// One hardened storage account: Entra ID (RBAC) only, no shared keys, no anonymous blob access, TLS 1.2, HTTPS only,
// every read, write and delete logged to Log Analytics; optionally reachable only through private endpoints.
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

@description('Replication. main.bicep passes Standard_LRS for the host account (timer locks and a package azd can upload again) and storageSku for the data account.')
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

@description('Keep every overwritten or deleted blob as a previous version (a Storage Blob Data Contributor cannot delete versions).')
param versioningEnabled bool = false

@description('Days after which the lifecycle policy deletes a previous version (versioning on).')
@minValue(1)
@maxValue(3650)
param previousVersionRetentionDays int = 30

@description('Containers that get a time-based immutability policy with protected append writes: objects {name, days}. Append blobs can grow; no blob can be overwritten or deleted until it is `days` old.')
param immutableContainers array = []

@description('Resource id of the Log Analytics workspace that receives the diagnostic logs and metrics.')
param logAnalyticsWorkspaceId string

@description('Log categories of the blob and queue services sent to Log Analytics (StorageRead, StorageWrite, StorageDelete).')
param logCategories array = [
  'StorageRead'
  'StorageWrite'
  'StorageDelete'
]

@description('Reachable only through private endpoints (public network access off); the vnetEnabled option.')
param privateNetworkOnly bool = false

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the default deployment (vnetEnabled=false) reaches storage over its public endpoint, Entra ID only (shared keys off); vnetEnabled=true sets defaultAction Deny and public access off
  // checkov:skip=CKV_AZURE_59: public endpoint needed without vnetEnabled by the Flex host, Event Grid and SIEM readers, Entra ID only; vnetEnabled=true turns it off
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
    publicNetworkAccess: privateNetworkOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworkOnly ? 'Deny' : 'Allow'
      bypass: privateNetworkOnly ? 'None' : 'AzureServices'
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
    isVersioningEnabled: versioningEnabled
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

// Write once, read many (the audit trail; the exports as an option): while a blob is protected nobody, the app
// included, can overwrite or delete it; allowProtectedAppendWrites still lets the app append lines to its append
// blobs. Policies are created unlocked (someone with control-plane rights on the account, which the app's identity
// does not have, can still shorten or remove them; every change is in the activity log); lock one to make it
// irreversible: az storage container immutability-policy lock.
resource immutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for policy in immutableContainers: {
  name: '${account.name}/default/${policy.name}/default'
  properties: {
    immutabilityPeriodSinceCreationInDays: policy.days
    allowProtectedAppendWrites: true
  }
  dependsOn: [
    containers
  ]
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

var exportRetentionRules = empty(lifecycleContainerName) ? [] : [
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

// With versioning every checkpoint save and every deletion leaves a previous version: keep them long enough to
// undo tampering, then let them go. The immutability policy keeps protected blobs whatever this rule says.
var versionRetentionRules = !versioningEnabled ? [] : [
  {
    name: 'previous-versions'
    enabled: true
    type: 'Lifecycle'
    definition: {
      filters: {
        // Append blobs (the audit trail) are never overwritten and, being write-once, not deleted in time to matter.
        blobTypes: [
          'blockBlob'
        ]
      }
      actions: {
        version: {
          delete: {
            daysAfterCreationGreaterThan: previousVersionRetentionDays
          }
        }
      }
    }
  }
]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(lifecycleContainerName) || versioningEnabled) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: concat(exportRetentionRules, versionRetentionRules)
    }
  }
  dependsOn: [
    containers
  ]
}

// Every read, write and delete of blobs and queue messages (who, what, from where), and the transaction metrics.
resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [for category in logCategories: {
      category: category
      enabled: true
    }]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [for category in logCategories: {
      category: category
      enabled: true
    }]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
