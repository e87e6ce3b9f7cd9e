// Key Vault for the few secrets the managed identity cannot replace:
// - the function keys Graph (change-notification URLs) and the sample Logic App present to the app;
// - the client secret or certificate of an app registration (authMode appRegistration).
// RBAC mode (no access policies), soft delete and purge protection. The app reads the secrets through Key Vault
// references in its settings. No secret value is ever an output.

@description('Key Vault name (3-24 characters, unique in Azure).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object = {}

@description('Store the webhook function key (webhooks enabled).')
param storeWebhookFunctionKey bool = false

@description('The webhook function key; the azd postdeploy hook sets the same value as a host key of the function app.')
@secure()
param webhookFunctionKey string = ''

@description('Store the function key of the sample Logic App (Logic App sample deployed).')
param storeLogicAppFunctionKey bool = false

@description('The Logic App function key; the azd postdeploy hook sets the same value as a host key of the function app.')
@secure()
param logicAppFunctionKey string = ''

@description('Credential of the app registration: none (managed identity), clientSecret or certificate.')
@allowed([
  'none'
  'clientSecret'
  'certificate'
])
param graphCredentialType string = 'none'

@description('Client secret to store (graphCredentialType clientSecret); empty: leave the secret as it is (the operator places it).')
@secure()
param clientSecret string = ''

@description('Resource id of the Log Analytics workspace that receives the AuditEvent log (every read of a secret, every refusal).')
param logAnalyticsWorkspaceId string

@description('Reachable only through a private endpoint (public network access off); the vnetEnabled option.')
param privateNetworkOnly bool = false

var webhookFunctionKeyName = 'webhook-function-key'
var logicAppFunctionKeyName = 'logicapp-function-key'
// A client secret is a secret of this name; a certificate is a Key Vault certificate, whose private key is
// readable as the secret of the same name (PKCS#12, base64), which is what GRAPH_CLIENT_CERTIFICATE accepts.
var graphCredentialName = graphCredentialType == 'certificate' ? 'graph-client-certificate' : 'graph-client-secret'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: without vnetEnabled the app resolves Key Vault references over the public endpoint and the operator places the credential from a workstation, Entra ID RBAC only; vnetEnabled=true sets Deny
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109; with vnetEnabled=true public network access is off and the vault has a private endpoint
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: privateNetworkOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworkOnly ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

module webhookKey 'keyvault-secret.bicep' = if (storeWebhookFunctionKey) {
  name: 'secret-webhook-function-key'
  params: {
    vaultName: vault.name
    name: webhookFunctionKeyName
    value: webhookFunctionKey
  }
}

module logicAppKey 'keyvault-secret.bicep' = if (storeLogicAppFunctionKey) {
  name: 'secret-logicapp-function-key'
  params: {
    vaultName: vault.name
    name: logicAppFunctionKeyName
    value: logicAppFunctionKey
  }
}

module clientSecretValue 'keyvault-secret.bicep' = if (graphCredentialType == 'clientSecret' && !empty(clientSecret)) {
  name: 'secret-graph-client-secret'
  params: {
    vaultName: vault.name
    name: graphCredentialName
    value: clientSecret
  }
}

// Who read which secret and every refused request (AuditEvent), and the vault's metrics (the alert rule on
// refusals reads ServiceApiResult).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'AuditEvent'
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

output id string = vault.id
output name string = vault.name
// References without a version follow the latest version (App Service re-reads them within 24 hours, or at once
// on a settings change or restart), so a rotated credential needs no redeploy.
output webhookFunctionKeyUri string = '${vault.properties.vaultUri}secrets/${webhookFunctionKeyName}'
output logicAppFunctionKeyName string = logicAppFunctionKeyName
output graphCredentialName string = graphCredentialName
output graphCredentialUri string = '${vault.properties.vaultUri}secrets/${graphCredentialName}'
