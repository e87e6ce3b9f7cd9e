// The function app: Flex Consumption (FC1), Linux, Python, running as the user-assigned identity. Every app
// setting lives here, in the *Settings variables below (tests/unit/test_infra.py reads them and compares them
// with shared/settings.py). No connection string and no key: storage, App Insights and Key Vault are reached with
// the identity. The code package is not referenced by URL: azd (or `func azure functionapp publish`) uploads it to
// the private deployment container, and the platform reads it from there with the identity.

@description('Function app name (also the default host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Storage account of the Functions host (AzureWebJobsStorage).')
param hostStorageName string

@description('Private blob container of the host storage account that holds the deployment package.')
param deploymentContainerName string

@description('Storage account of the app data.')
param dataStorageName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Python version of the Functions worker.')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Memory of each instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for the HTTP functions (0: scale to zero; Graph validation then meets a cold start).')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int = 1

@description('Microsoft Graph national cloud: Global, USGov or USGovDoD.')
param graphCloud string

@description('Comma-separated Entra tenant ids to export.')
param tenantIds string

@description('Blob in the state container that lists the tenants instead of tenantIds (empty: tenantIds).')
param tenantListBlob string = ''

@description('managedIdentity (the app identity gets Graph tokens), managedIdentityFederation (a multi-tenant app whose credential is that identity) or appRegistration (client secret or certificate from Key Vault).')
@allowed([
  'managedIdentity'
  'managedIdentityFederation'
  'appRegistration'
])
param authMode string = 'managedIdentity'

@description('Client id of the app registration (authMode appRegistration or managedIdentityFederation).')
param appRegistrationClientId string = ''

@description('Credential of the app registration: clientSecret or certificate (authMode appRegistration).')
@allowed([
  'clientSecret'
  'certificate'
])
param appRegistrationCredentialType string = 'certificate'

@description('Key Vault URI of the app registration credential, client secret or certificate (authMode appRegistration).')
param graphCredentialUri string = ''

@description('Blob container of the exports.')
param exportContainerName string

@description('Blob container of checkpoints, leases and subscription state.')
param stateContainerName string

@description('Blob container of the audit trail.')
param auditContainerName string

@description('Queue of accepted change notifications.')
param webhookQueueName string

@description('Queue of export work items (one per tenant and API family).')
param exportWorkQueueName string

@description('NCRONTAB schedule of the export timers.')
param exportSchedule string

@description('NCRONTAB schedule of the subscription upkeep timer.')
param subscriptionUpkeepSchedule string

@description('Comma-separated streams to export; empty: the code default (all streams).')
param exportStreams string = ''

@description('Write actions on alerts, incidents and risky users (false: read-only).')
param actionsEnabled bool = true

@description('Keep Graph change-notification subscriptions alive.')
param webhooksEnabled bool = false

@description('Key Vault URI of the webhook function key (webhooks enabled).')
param webhookFunctionKeyUri string = ''

@description('JSON list of the desired Graph subscriptions (WEBHOOK_SUBSCRIPTIONS).')
param webhookSubscriptions string = '[]'

@description('Subnet for VNet integration (outbound traffic to the private endpoints); empty: no VNet integration.')
param virtualNetworkSubnetId string = ''

@description('Resource id of the Log Analytics workspace that receives FunctionAppLogs and the app metrics.')
param logAnalyticsWorkspaceId string

@description('Send telemetry with Microsoft Entra authentication (the component has local authentication off).')
param entraIngestionOnly bool = true

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataStorageName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// --- Settings read by the Functions host and the platform, not by the app code (listed in test_infra.py).
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
}

// Entra ID ingestion with the user-assigned identity (the component refuses instrumentation-key-only writes).
var telemetryAuthSettings = entraIngestionOnly ? {
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
} : {}

// --- Settings of shared/settings.py. GRAPH_ENDPOINT and GRAPH_AUTHORITY_HOST stay unset: the code derives them
// from GRAPH_CLOUD. BRIDGE_STORAGE (a connection string) is never set in Azure: the identity-based
// BRIDGE_STORAGE__* settings replace it.
var graphSettings = {
  GRAPH_CLOUD: graphCloud
  // One source of the tenant list: the blob when it is named, else the setting (the code refuses both).
  GRAPH_TENANT_IDS: empty(tenantListBlob) ? tenantIds : ''
  GRAPH_TENANT_LIST_BLOB: tenantListBlob
  GRAPH_AUTH_MODE: authMode == 'managedIdentity' ? 'managed_identity' : (authMode == 'managedIdentityFederation' ? 'managed_identity_federation' : (appRegistrationCredentialType == 'clientSecret' ? 'client_secret' : 'certificate'))
  GRAPH_CLIENT_ID: authMode == 'managedIdentity' ? identityClientId : appRegistrationClientId
  // managedIdentityFederation: the identity whose token is the multi-tenant app's client assertion.
  GRAPH_FEDERATED_IDENTITY_CLIENT_ID: authMode == 'managedIdentityFederation' ? identityClientId : ''
}

var graphCredentialSettings = authMode != 'appRegistration' ? {} : (appRegistrationCredentialType == 'clientSecret' ? {
  GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${graphCredentialUri})'
} : {
  GRAPH_CLIENT_CERTIFICATE: '@Microsoft.KeyVault(SecretUri=${graphCredentialUri})'
})

var storageSettings = {
  BRIDGE_STORAGE__blobServiceUri: dataStorage.properties.primaryEndpoints.blob
  BRIDGE_STORAGE__queueServiceUri: dataStorage.properties.primaryEndpoints.queue
  BRIDGE_STORAGE__credential: 'managedidentity'
  BRIDGE_STORAGE__clientId: identityClientId
  EXPORT_CONTAINER: exportContainerName
  STATE_CONTAINER: stateContainerName
  AUDIT_CONTAINER: auditContainerName
  WEBHOOK_QUEUE: webhookQueueName
  EXPORT_QUEUE: exportWorkQueueName
}

// The host resolves %EXPORT_SCHEDULE% and %SUBSCRIPTION_UPKEEP_SCHEDULE% when it indexes the timers: both must
// exist even when webhooks are off.
var scheduleSettings = {
  EXPORT_SCHEDULE: exportSchedule
  SUBSCRIPTION_UPKEEP_SCHEDULE: subscriptionUpkeepSchedule
}

var exportSettings = empty(exportStreams) ? {} : {
  EXPORT_STREAMS: exportStreams
}

var featureSettings = {
  ACTIONS_ENABLED: actionsEnabled ? 'true' : 'false'
  WEBHOOKS_ENABLED: webhooksEnabled ? 'true' : 'false'
  // The site's real host name: with a unique default host name (<name>-<hash>.<region>.azurewebsites.net) it is
  // not <name>.azurewebsites.net, so it is read from the site, which is why the settings are a separate resource.
  WEBHOOK_BASE_URL: 'https://${site.properties.defaultHostName}'
  WEBHOOK_SUBSCRIPTIONS: webhookSubscriptions
}

var webhookKeySettings = webhooksEnabled ? {
  WEBHOOK_FUNCTION_KEY: '@Microsoft.KeyVault(SecretUri=${webhookFunctionKeyUri})'
} : {}

var allSettings = union(platformSettings, telemetryAuthSettings, graphSettings, graphCredentialSettings, storageSettings, scheduleSettings, exportSettings, featureSettings, webhookKeySettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption keeps at least two always-ready instances per group and is not offered in every region; a single-region export job does not need it
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_16: callers authenticate with function keys: Graph cannot send an Entra token to a notification URL, and Easy Auth would need another app registration
  // checkov:skip=CKV_AZURE_17: Graph does not present client certificates when it calls the notification URL
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales through functionAppConfig (alwaysReady, maximumInstanceCount), not siteConfig.numberOfWorkers
  // checkov:skip=CKV_AZURE_213: the app has no unauthenticated health endpoint to probe (every HTTP route needs a function key)
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP and rejects siteConfig.ftpsState (ARM error 51021); basic publishing credentials are disabled below
  // checkov:skip=CKV_AZURE_222: Microsoft Graph must reach the notification URL from the internet; every HTTP function needs a function key
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    // vnetEnabled: outbound traffic through the VNet, where storage and Key Vault have private endpoints.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    // Key Vault references resolve with the user-assigned identity (the default would be a system identity).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // The "http" group covers every HTTP function: the webhook answers Graph's validation (10 s limit) and
        // notifications (3 s) without a cold start, and Logic App actions answer promptly.
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// App settings as a child resource (as the AVM web/site module does), because WEBHOOK_BASE_URL needs the site's
// defaultHostName, which the site's own definition cannot read.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this is the appsettings config (name/value pairs), not the site; the site's authentication is discussed on the site resource (CKV_AZURE_16)
  // checkov:skip=CKV_AZURE_63: HTTP logging is an App Service 'web'/'logs' config setting, not an app setting; the app's logs go to Log Analytics (FunctionAppLogs diagnostic setting)
  // checkov:skip=CKV_AZURE_65: detailed error pages are a 'web' config setting of App Service, not an app setting; Functions answers with JSON problem bodies
  // checkov:skip=CKV_AZURE_66: failed request tracing is an App Service 'web'/'logs' config setting (IIS), not an app setting; not offered on Flex Consumption
  // checkov:skip=CKV_AZURE_80: the .NET Framework version does not apply to a Python function app, and this resource holds app settings only
  // checkov:skip=CKV_AZURE_88: Azure Files content shares do not exist on Flex Consumption: the package is read from a blob container
  // checkov:skip=CKV_AZURE_222: inbound stays public on purpose: Microsoft Graph and Logic Apps call the app from the internet with function keys (see the site resource)
  parent: site
  name: 'appsettings'
  properties: allSettings
}

// Every function invocation's logs (FunctionAppLogs) and the app's metrics.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
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

// No publishing user names and passwords (FTP, SCM basic auth): deployments authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
