// Graph Security Bridge: everything the function app needs, in one deployment (`azd up`, or
// `az deployment sub create --template-file infra/main.bicep ...`). Subscription scope so that the resource group
// is part of the deployment. Security model: one user-assigned managed identity, Entra ID everywhere (no storage
// keys, no App Insights instrumentation-key ingestion, no publishing passwords), Key Vault only for the secrets
// that cannot be avoided, least-privilege roles with deterministic names, an append-only audit container, every
// resource's logs in Log Analytics with alert rules on them. See docs/deployment.md.

targetScope = 'subscription'

// --- Environment

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of the resource group name and of the unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

// --- Microsoft Graph

@description('Microsoft Graph national cloud of the tenant: Global, USGov (GCC High) or USGovDoD (DoD). Defaults to USGov when deploying to Azure Government.')
@allowed([
  'Global'
  'USGov'
  'USGovDoD'
])
param cloud string = environment().name == 'AzureUSGovernment' ? 'USGov' : 'Global'

@description('Comma-separated Entra tenant ids to export. A managed identity serves only its own tenant; several tenants need authMode managedIdentityFederation (or appRegistration) with a multi-tenant app.')
param tenantIds string = tenant().tenantId

@description('Name of a JSON blob in the state container that lists the tenants instead of tenantIds (GRAPH_TENANT_LIST_BLOB, e.g. tenants.json): customer tenants are then added without a redeploy (docs/multi-tenant.md). Empty: tenantIds.')
param tenantListBlob string = ''

@description('managedIdentity: the app\'s managed identity calls Graph (no secret anywhere; its own tenant only). managedIdentityFederation: a multi-tenant app registration whose only credential is that managed identity, for many customer tenants without a secret (the Bicep creates the app unless appRegistrationClientId names one; public cloud only). appRegistration: an app registration\'s client secret or certificate, kept in Key Vault.')
@allowed([
  'managedIdentity'
  'managedIdentityFederation'
  'appRegistration'
])
param authMode string = 'managedIdentity'

@description('Client (application) id of the app registration (authMode appRegistration; with managedIdentityFederation, an app made by hand instead of by the Bicep).')
param appRegistrationClientId string = ''

@description('Credential of the app registration (authMode appRegistration): certificate (imported into Key Vault as graph-client-certificate) or clientSecret (secret graph-client-secret).')
@allowed([
  'certificate'
  'clientSecret'
])
param appRegistrationCredentialType string = 'certificate'

@description('Optional client secret to store in Key Vault (authMode appRegistration, clientSecret). Empty: place it yourself (az keyvault secret set) and the deployment leaves it alone.')
@secure()
param appRegistrationClientSecret string = ''

@description('Grant the managed identity its Microsoft Graph application permissions with the Microsoft Graph Bicep extension (needs a deploying user allowed to grant app roles; public cloud only; a first deployment can fail while the new identity replicates in Entra ID). false (default): the postprovision hook prints the scripts/grant-graph-permissions.sh command for an administrator.')
param grantGraphPermissions bool = false

@description('Write actions (alert and incident triage, risky user and service principal actions). false: read-only Graph permissions and ACTIONS_ENABLED=false.')
param actionsEnabled bool = true

// --- Change notifications (webhooks)

@description('Security context: grant the read permissions of the context streams (userContext, deviceContext, servicePrincipalContext: User.Read.All, Device.Read.All, DeviceManagementManagedDevices.Read.All, RoleManagement.Read.Directory, AuditLog.Read.All, Application.Read.All). List the streams in exportStreams to export them.')
param securityContext bool = false

@description('Keep Graph change-notification subscriptions alive (adds SecurityEvents.ReadWrite.All, a Key Vault and the webhook function key).')
param webhooksEnabled bool = false

@description('WEBHOOK_SUBSCRIPTIONS: JSON list of the desired subscriptions, e.g. [{"resource": "security/alerts?$filter=status eq \'newAlert\'", "changeType": "updated", "streams": ["alerts"]}].')
param webhookSubscriptions string = '[]'

@description('Secret from which the function keys (webhook, Logic App sample) are derived. azd generates it once and keeps it in the environment; with az deployment pass a random value (openssl rand -hex 32) and keep it. A new value rotates the keys.')
@secure()
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
    }
  }
})
param functionKeySeed string

// --- Export

@description('NCRONTAB schedule of the export timers (seconds first).')
param exportSchedule string = '0 */5 * * * *'

@description('NCRONTAB schedule of the subscription upkeep timer.')
param subscriptionUpkeepSchedule string = '0 0 * * * *'

@description('Comma-separated streams to export; empty: all streams (the app default).')
param exportStreams string = ''

@description('Days an export blob is kept before the lifecycle policy deletes it.')
@minValue(1)
@maxValue(3650)
param exportRetentionDays int = 365

@description('Days after which an export blob moves to the cool tier (0: never; ignored when not below exportRetentionDays).')
@minValue(0)
@maxValue(3650)
param coolAfterDays int = 30

@description('Replication of the data storage account (exports, checkpoints, audit trail). The host storage account is always Standard_LRS: it holds timer locks, host keys and a package azd uploads again.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_GRS'

// --- Hosting

@description('Always-ready instances for the HTTP functions, so that Graph\'s 10 s validation and 3 s notification limits never meet a cold start (0: scale to zero).')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int = 1

@description('Most instances the app scales out to (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// 3.13: its worker (azure-functions-runtime, pinned in requirements.txt) is the one the tests load the app with
// (tests/integration/test_real_worker.py); 3.11 and 3.12 run an older worker that no test here can run.
@description('Python version. 3.13 runs the worker version the tests load the app with; 3.11 and 3.12 also work.')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// --- Tamper evidence, alerts, network

@description('Days each audit blob stays write-once (time-based immutability policy on graph-audit: appends allowed, no overwrite, no delete).')
@minValue(1)
@maxValue(3650)
param auditImmutabilityDays int = 365

@description('Days each export blob stays write-once (immutability policy on graph-export); 0: none. Keep it at most exportRetentionDays. A crashed run\'s unrecorded blob then cannot be removed: its records may be exported twice.')
@minValue(0)
@maxValue(3650)
param exportImmutabilityDays int = 0

@description('Days a previous version of an overwritten or deleted blob of the data account is kept (blob versioning).')
@minValue(1)
@maxValue(3650)
param previousVersionRetentionDays int = 30

@description('E-mail address that receives the alerts (function failures, poison messages, export lag, Key Vault refusals); empty: the alerts show in the portal only.')
param alertEmail string = ''

@description('Minutes without a successful export of a tenant and stream before the export-lag alert fires.')
@minValue(15)
@maxValue(300)
param exportLagAlertMinutes int = 60

@description('Network isolation: VNet integration for the app, private endpoints and private DNS for both storage accounts and Key Vault, public network access off for them. Inbound calls to the app stay public (Graph webhooks, Logic Apps).')
param vnetEnabled bool = false

// --- Options

@description('Announce new export blobs on a Storage queue (graph-export-events) through an Event Grid system topic, for queue-driven SIEM readers.')
param enableEventGrid bool = false

@description('Deploy the sample playbook (Logic App): on every new high-severity alert (the app\'s polling trigger), read it, comment on it and assign it.')
param deployLogicAppSample bool = false

@description('Owner the sample playbook assigns alerts to (alerts_v2 assignedTo, usually a user principal name).')
param logicAppAssignee string = 'SOC triage'

@description('Object id of the operator (azd sets AZURE_PRINCIPAL_ID): may place the app-registration credential in Key Vault and read the function keys there. Empty: none.')
param principalId string = ''

@description('Object id of a SIEM principal (service principal or managed identity) that reads the export container and the export events queue. Empty: none.')
param siemPrincipalId string = ''

// --- Names

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  identity: 'id-${resourceToken}'
  hostStorage: 'sthost${resourceToken}'
  dataStorage: 'stdata${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  systemTopic: 'evgt-${resourceToken}'
  logicApp: 'logic-${resourceToken}'
  vnet: 'vnet-${resourceToken}'
  alerts: 'alert-${resourceToken}'
}

// Containers and queues: the names the app settings hand to the code (EXPORT_CONTAINER, ...).
var deploymentContainerName = 'app-package'
var exportContainerName = 'graph-export'
var stateContainerName = 'graph-state'
var auditContainerName = 'graph-audit'
var webhookQueueName = 'graph-notifications'
// The Functions queue trigger moves a message that keeps failing to <queue>-poison.
var webhookPoisonQueueName = '${webhookQueueName}-poison'
var exportEventsQueueName = 'graph-export-events'
// Asynchronous bulk requests (JOB_QUEUE in shared/actions/operations.py) and their poison queue.
var jobQueueName = 'action-jobs'
var jobPoisonQueueName = '${jobQueueName}-poison'
// Export work items (one per tenant and API family): the timers fill it, the export_worker function runs it.
var exportWorkQueueName = 'graph-export-work'
var exportWorkPoisonQueueName = '${exportWorkQueueName}-poison'

var dataContainerNames = [
  exportContainerName
  stateContainerName
  auditContainerName
]
var appQueueNames = [
  webhookQueueName
  webhookPoisonQueueName
  jobQueueName
  jobPoisonQueueName
  exportWorkQueueName
  exportWorkPoisonQueueName
]
// Queue roles follow the app's queue bindings (tests/unit/test_infra.py reads them from the app): a queue that
// triggers a function (webhook_processor, actions_job_worker, export_worker) gets Reader + Message Processor; a
// queue that an output binding sends to, and the poison queue the host moves a failing message to, get Message
// Sender.
var appTriggerQueueNames = [
  webhookQueueName
  jobQueueName
  exportWorkQueueName
]
var appSenderQueueNames = [
  webhookQueueName
  webhookPoisonQueueName
  jobQueueName
  jobPoisonQueueName
  exportWorkQueueName
  exportWorkPoisonQueueName
]

// --- Microsoft Graph application permissions of the managed identity (least privilege).
// Read-only when actions are off. SecurityEvents.ReadWrite.All is what Graph requires to subscribe to (legacy)
// security alert change notifications (subscription-post-subscriptions: no read-only permission is accepted).
var graphReadRoles = [
  'SecurityAlert.Read.All'
  'SecurityIncident.Read.All'
  'IdentityRiskEvent.Read.All'
  'IdentityRiskyUser.Read.All'
  'IdentityRiskyServicePrincipal.Read.All'
]
var graphWriteRoles = [
  'SecurityAlert.ReadWrite.All'
  'SecurityIncident.ReadWrite.All'
  'IdentityRiskEvent.Read.All'
  'IdentityRiskyUser.ReadWrite.All'
  'IdentityRiskyServicePrincipal.ReadWrite.All'
]
var graphWebhookRoles = [
  'SecurityEvents.ReadWrite.All'
]
// The context streams (docs/context.md): each permission is optional; a missing one leaves its fields out.
var graphContextRoles = [
  'User.Read.All'
  'Device.Read.All'
  'DeviceManagementManagedDevices.Read.All'
  'RoleManagement.Read.Directory'
  'AuditLog.Read.All'
  'Application.Read.All'
]
var graphAppRoles = concat(actionsEnabled ? graphWriteRoles : graphReadRoles, webhooksEnabled ? graphWebhookRoles : [],
  securityContext ? graphContextRoles : [])
// The Microsoft Graph Bicep extension deploys in the public cloud only; elsewhere the script grants the roles.
var grantWithBicep = grantGraphPermissions && authMode == 'managedIdentity' && environment().name == 'AzureCloud'
// The multi-tenant app of managedIdentityFederation, made by the Graph extension (public cloud only; elsewhere, or
// to keep an existing app, make it by hand as docs/multi-tenant.md shows and pass appRegistrationClientId).
var createMultiTenantApp = authMode == 'managedIdentityFederation' && empty(appRegistrationClientId) && environment().name == 'AzureCloud'
// The admin-consent flow returns the customer's administrator here. Not functionApp.outputs.defaultHostName: the
// function app's settings need the app's client id, so reading its host name back would be a cycle. The site keeps
// the classic global host name (no autoGeneratedDomainNameLabelScope), so the name is known in advance.
var consentRedirectUri = 'https://${names.functionApp}.azurewebsites.net/'
// Microsoft Entra authenticated ingestion into Application Insights is documented for the public cloud (its
// prerequisites said "Be in the public cloud"); elsewhere the component keeps local authentication.
var entraTelemetry = environment().name == 'AzureCloud'

// Write-once containers: the audit trail always, the exports on request.
var immutableDataContainers = concat([
  {
    name: auditContainerName
    days: auditImmutabilityDays
  }
], exportImmutabilityDays > 0 ? [
  {
    name: exportContainerName
    days: exportImmutabilityDays
  }
] : [])

// --- Secrets. The key vault exists only when a secret does.
var needKeyVault = authMode == 'appRegistration' || webhooksEnabled || deployLogicAppSample
// One key per caller, derived from the seed: unpredictable without it, stable across deployments, 64 hex chars.
var webhookFunctionKey = replace('${guid(functionKeySeed, 'graphwebhook', '1')}${guid(functionKeySeed, 'graphwebhook', '2')}', '-', '')
var logicAppFunctionKey = replace('${guid(functionKeySeed, 'logicapp', '1')}${guid(functionKeySeed, 'logicapp', '2')}', '-', '')

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

// Functions host storage: AzureWebJobsStorage (timer locks, host keys) and the deployment package container.
module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: names.hostStorage
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    containerNames: [
      deploymentContainerName
    ]
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    privateNetworkOnly: vnetEnabled
  }
}

// App data: exports (lifecycle: cool, then delete), checkpoints, audit trail (write-once), notification queues.
// Versioning keeps what is overwritten or deleted; the app's Storage Blob Data Contributor cannot delete versions.
module dataStorage 'modules/storage.bicep' = {
  name: 'data-storage'
  scope: rg
  params: {
    name: names.dataStorage
    location: location
    tags: tags
    skuName: storageSku
    containerNames: dataContainerNames
    queueNames: concat(appQueueNames, enableEventGrid ? [
      exportEventsQueueName
    ] : [])
    lifecycleContainerName: exportContainerName
    coolAfterDays: coolAfterDays
    deleteAfterDays: exportRetentionDays
    versioningEnabled: true
    previousVersionRetentionDays: previousVersionRetentionDays
    immutableContainers: immutableDataContainers
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    privateNetworkOnly: vnetEnabled
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    retentionInDays: logRetentionDays
    entraIngestionOnly: entraTelemetry
  }
}

module keyVault 'modules/keyvault.bicep' = if (needKeyVault) {
  name: 'key-vault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    storeWebhookFunctionKey: webhooksEnabled
    webhookFunctionKey: webhooksEnabled ? webhookFunctionKey : ''
    storeLogicAppFunctionKey: deployLogicAppSample
    logicAppFunctionKey: deployLogicAppSample ? logicAppFunctionKey : ''
    graphCredentialType: authMode == 'appRegistration' ? appRegistrationCredentialType : 'none'
    clientSecret: authMode == 'appRegistration' && appRegistrationCredentialType == 'clientSecret' ? appRegistrationClientSecret : ''
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    privateNetworkOnly: vnetEnabled
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    hostStorageName: hostStorage.outputs.name
    dataStorageName: dataStorage.outputs.name
    dataContainerNames: dataContainerNames
    triggerQueueNames: appTriggerQueueNames
    senderQueueNames: appSenderQueueNames
    exportContainerName: exportContainerName
    exportEventsQueueName: enableEventGrid ? exportEventsQueueName : ''
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.?outputs.name ?? ''
    operatorPrincipalId: principalId
    tenantListContainerName: empty(tenantListBlob) ? '' : stateContainerName
    tenantListBlobName: tenantListBlob
    operatorPlacesSecret: authMode == 'appRegistration' && appRegistrationCredentialType == 'clientSecret'
    operatorPlacesCertificate: authMode == 'appRegistration' && appRegistrationCredentialType == 'certificate'
    siemPrincipalId: siemPrincipalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageName: hostStorage.outputs.name
    deploymentContainerName: deploymentContainerName
    dataStorageName: dataStorage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    graphCloud: cloud
    tenantIds: tenantIds
    tenantListBlob: tenantListBlob
    authMode: authMode
    appRegistrationClientId: createMultiTenantApp ? (multiTenantApp.?outputs.appId ?? '') : appRegistrationClientId
    appRegistrationCredentialType: appRegistrationCredentialType
    graphCredentialUri: keyVault.?outputs.graphCredentialUri ?? ''
    exportContainerName: exportContainerName
    stateContainerName: stateContainerName
    auditContainerName: auditContainerName
    webhookQueueName: webhookQueueName
    exportWorkQueueName: exportWorkQueueName
    exportSchedule: exportSchedule
    subscriptionUpkeepSchedule: subscriptionUpkeepSchedule
    exportStreams: exportStreams
    actionsEnabled: actionsEnabled
    webhooksEnabled: webhooksEnabled
    webhookFunctionKeyUri: keyVault.?outputs.webhookFunctionKeyUri ?? ''
    webhookSubscriptions: webhookSubscriptions
    virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    entraIngestionOnly: entraTelemetry
  }
  dependsOn: [
    // Every role in place before the app's first start: the host needs its storage at once.
    rbac
  ]
}

module graphPermissions 'modules/graph-permissions.bicep' = if (grantWithBicep) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    appRoles: graphAppRoles
  }
}

module multiTenantApp 'modules/multi-tenant-app.bicep' = if (createMultiTenantApp) {
  name: 'multi-tenant-app'
  scope: rg
  params: {
    uniqueName: 'graph-security-bridge-${resourceToken}'
    displayName: 'Graph Security Bridge (${environmentName})'
    identityPrincipalId: identity.outputs.principalId
    appRoles: graphAppRoles
    consentRedirectUri: consentRedirectUri
  }
}

module eventGrid 'modules/eventgrid.bicep' = if (enableEventGrid) {
  name: 'event-grid'
  scope: rg
  params: {
    name: names.systemTopic
    location: location
    tags: tags
    storageAccountName: dataStorage.outputs.name
    exportContainerName: exportContainerName
    queueName: exportEventsQueueName
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module logicApp 'modules/logicapp.bicep' = if (deployLogicAppSample) {
  name: 'logic-app'
  scope: rg
  params: {
    name: names.logicApp
    location: location
    tags: tags
    functionAppHostName: functionApp.outputs.defaultHostName
    keyVaultName: keyVault.?outputs.name ?? ''
    functionKeySecretName: keyVault.?outputs.logicAppFunctionKeyName ?? ''
    // The value of that secret (derived here, stored by the keyVault module): the trigger's copy.
    triggerFunctionKey: logicAppFunctionKey
    assignee: logicAppAssignee
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

// --- Network isolation (vnetEnabled): private endpoints for the host account (blob: AzureWebJobsStorage and the
// deployment package), the data account (blob and queue) and the vault.
var privateEndpoints = concat([
  {
    name: 'pe-${names.hostStorage}-blob'
    targetId: hostStorage.outputs.id
    groupId: 'blob'
  }
  {
    name: 'pe-${names.dataStorage}-blob'
    targetId: dataStorage.outputs.id
    groupId: 'blob'
  }
  {
    name: 'pe-${names.dataStorage}-queue'
    targetId: dataStorage.outputs.id
    groupId: 'queue'
  }
], needKeyVault ? [
  {
    name: 'pe-${names.keyVault}'
    targetId: resourceId(subscription().subscriptionId, names.resourceGroup, 'Microsoft.KeyVault/vaults', names.keyVault)
    groupId: 'vault'
  }
] : [])

module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: names.vnet
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    privateEndpoints: privateEndpoints
  }
  dependsOn: [
    keyVault
  ]
}

// --- Alerts and the operators' workbook.
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: names.alerts
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    keyVaultId: keyVault.?outputs.id ?? ''
    alertEmail: alertEmail
    exportLagMinutes: exportLagAlertMinutes
    poisonQueueName: webhookPoisonQueueName
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    displayName: 'Graph Security Bridge (${environmentName})'
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

// --- Outputs (azd stores them in the environment; the postprovision/postdeploy hooks and users read them).
// Names, URLs and ids only: never a key, a secret or a connection string.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output DATA_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output EXPORT_CONTAINER_URL string = '${dataStorage.outputs.blobEndpoint}${exportContainerName}'
output EXPORT_EVENTS_QUEUE_URL string = enableEventGrid ? '${dataStorage.outputs.queueEndpoint}${exportEventsQueueName}' : ''
output KEY_VAULT_NAME string = keyVault.?outputs.name ?? ''
output LOGIC_APP_NAME string = logicApp.?outputs.name ?? ''
output GRAPH_CLOUD string = cloud
output GRAPH_AUTH_MODE string = authMode
output GRAPH_APP_ROLES string = join(graphAppRoles, ',')
output GRAPH_PERMISSIONS_GRANTED_BY_BICEP bool = grantWithBicep
output MULTI_TENANT_APP_CLIENT_ID string = createMultiTenantApp ? (multiTenantApp.?outputs.appId ?? '') : (authMode == 'managedIdentityFederation' ? appRegistrationClientId : '')
// For each customer tenant: replace {customer-tenant-id} and send the URL to its administrator (docs/multi-tenant.md).
output ADMIN_CONSENT_URL_TEMPLATE string = createMultiTenantApp ? (multiTenantApp.?outputs.adminConsentUrlTemplate ?? '') : (authMode == 'managedIdentityFederation' ? '${environment().authentication.loginEndpoint}{customer-tenant-id}/v2.0/adminconsent?client_id=${appRegistrationClientId}&scope=${environment().graph}.default&redirect_uri=${uriComponent(consentRedirectUri)}' : '')
output ACTIONS_ENABLED bool = actionsEnabled
output WEBHOOKS_ENABLED bool = webhooksEnabled
