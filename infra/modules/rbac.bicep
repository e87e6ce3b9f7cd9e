// Data-plane roles of the function app's managed identity (and of the optional operator and SIEM principals), each
// on the narrowest scope that works, each with a deterministic name guid(scope, principal, role) so that a redeploy
// finds the same assignment instead of failing on a duplicate. Identities created by other modules (Event Grid
// system topic, Logic App) get their roles in those modules, next to the identity.

@description('Principal (object) id of the function app user-assigned identity.')
param appPrincipalId string

@description('Storage account of the Functions host (AzureWebJobsStorage and the deployment package).')
param hostStorageName string

@description('Storage account of the app data.')
param dataStorageName string

@description('Blob containers the app reads and writes (exports, checkpoints/state, audit trail).')
param dataContainerNames array

@description('Queues a queue trigger of the app reads (Storage Queue Data Reader and Message Processor: peek, read, delete).')
param triggerQueueNames array

@description('Queues the app writes to: its queue output bindings, and the poison queue of each trigger queue, where the host moves a message that keeps failing (Storage Queue Data Message Sender).')
param senderQueueNames array

@description('Container a SIEM reads (the exports).')
param exportContainerName string

@description('Queue of export BlobCreated events for a SIEM (Event Grid option); empty: none.')
param exportEventsQueueName string = ''

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Key Vault holding the app secrets; empty: no Key Vault.')
param keyVaultName string = ''

@description('Operator (user or pipeline) whose azd postdeploy hook reads the function keys and who places the app-registration credential; empty: none.')
param operatorPrincipalId string = ''

@description('The operator places a client secret in the vault (Secrets Officer instead of Secrets User).')
param operatorPlacesSecret bool = false

@description('The operator imports a certificate into the vault (Certificates Officer).')
param operatorPlacesCertificate bool = false

@description('Container of the tenant list the operator writes (tenantListBlob); empty: the operator writes none.')
param tenantListContainerName string = ''

@description('Name of the tenant list blob (tenantListBlob): the only blob the operator may write in that container.')
param tenantListBlobName string = ''

@description('SIEM principal that reads exports (and the export events queue); empty: none.')
param siemPrincipalId string = ''

// Built-in role definition ids (the same in every Azure cloud).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageQueueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataStorageName
}

resource dataBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: dataStorage
  name: 'default'
}

resource dataQueueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: dataStorage
  name: 'default'
}

resource dataContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for containerName in dataContainerNames: {
  parent: dataBlobService
  name: containerName
}]

resource triggerQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for queueName in triggerQueueNames: {
  parent: dataQueueService
  name: queueName
}]

resource senderQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for queueName in senderQueueNames: {
  parent: dataQueueService
  name: queueName
}]

resource exportContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: dataBlobService
  name: exportContainerName
}

resource exportEventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = if (!empty(exportEventsQueueName)) {
  parent: dataQueueService
  name: exportEventsQueueName
}

resource tenantListContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (!empty(tenantListContainerName)) {
  parent: dataBlobService
  name: tenantListContainerName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (!empty(keyVaultName)) {
  name: keyVaultName
}

// Functions host storage: Blob Data Owner on the host account is the documented minimum for the host (timer
// locks, host id, default key store in azure-webjobs-secrets; the runtime creates its containers). It also reads
// the deployment package. This is why host storage is a separate account: the broad role never reaches the data.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// App data: read and write blobs (exports, checkpoints with ETags and leases, audit trail), one assignment per
// container, so the identity has nothing on any other container of the account.
resource dataBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (containerName, i) in dataContainerNames: {
  name: guid(dataContainers[i].id, appPrincipalId, roles.storageBlobDataContributor)
  scope: dataContainers[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}]

// Queues, as Microsoft documents for the Functions queue extension (trigger: Storage Queue Data Reader and Message
// Processor). Its output binding and its move to the poison queue send first and create the queue only when it is
// missing (AddMessageAndCreateIfNotExistsAsync); the Bicep creates every queue, so Message Sender is enough where the
// documentation's table adds Queue Data Contributor for the creation. No role can create, delete or clear a queue.
resource triggerQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in triggerQueueNames: {
  name: guid(triggerQueues[i].id, appPrincipalId, roles.storageQueueDataReader)
  scope: triggerQueues[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataReader)
  }
}]

resource triggerQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in triggerQueueNames: {
  name: guid(triggerQueues[i].id, appPrincipalId, roles.storageQueueDataMessageProcessor)
  scope: triggerQueues[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageProcessor)
  }
}]

resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in senderQueueNames: {
  name: guid(senderQueues[i].id, appPrincipalId, roles.storageQueueDataMessageSender)
  scope: senderQueues[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
  }
}]

// Telemetry with Entra ID authentication (the component has local auth disabled).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// Key Vault references: read secret values. Vault scope because the app-registration credential may be placed
// by the operator after deployment (a role cannot be scoped to a secret that does not exist yet); the vault holds
// only this app's secrets.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyVaultName)) {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// The azd postdeploy hook reads the function keys with the operator's identity (Secrets User); an operator who
// places the client secret needs to write it (Secrets Officer), one who imports the certificate needs
// Certificates Officer.
var operatorSecretsRole = operatorPlacesSecret ? roles.keyVaultSecretsOfficer : roles.keyVaultSecretsUser

resource operatorSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyVaultName) && !empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, operatorSecretsRole)
  scope: vault
  properties: {
    principalId: operatorPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', operatorSecretsRole)
  }
}

resource operatorCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyVaultName) && !empty(operatorPrincipalId) && operatorPlacesCertificate) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    principalId: operatorPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificatesOfficer)
  }
}

// A SIEM reads the export container only (list and read blobs), never state or audit.
resource siemExportReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(siemPrincipalId)) {
  name: guid(exportContainer.id, siemPrincipalId, roles.storageBlobDataReader)
  scope: exportContainer
  properties: {
    principalId: siemPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
  }
}

// ... and consumes the BlobCreated events (read and delete messages) when the Event Grid option is on.
resource siemEventsProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(siemPrincipalId) && !empty(exportEventsQueueName)) {
  name: guid(exportEventsQueue.id, siemPrincipalId, roles.storageQueueDataMessageProcessor)
  scope: exportEventsQueue
  properties: {
    principalId: siemPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageProcessor)
  }
}

// The operator onboards customer tenants by writing the tenant list (docs/multi-tenant.md). Blob roles cannot be
// scoped to one blob, so the role on the state container carries a condition: writes and deletes only to that blob
// (reads stay possible, to see what is there); checkpoints, leases and markers stay the app's alone.
var tenantListWriteCondition = '((!(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete\'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringEquals \'${tenantListBlobName}\'))'

resource operatorTenantList 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId) && !empty(tenantListContainerName)) {
  name: guid(tenantListContainer.id, operatorPrincipalId, roles.storageBlobDataContributor)
  scope: tenantListContainer
  properties: {
    principalId: operatorPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    condition: tenantListWriteCondition
    conditionVersion: '2.0'
  }
}
