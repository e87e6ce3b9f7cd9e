// The multi-tenant app registration of authMode managedIdentityFederation (docs/multi-tenant.md), created with the
// Microsoft Graph Bicep extension (declared in ../bicepconfig.json; Bicep CLI 0.36.1 or later; public cloud only).
// Its only credential is a federated identity credential that trusts the function app's user-assigned managed
// identity: no secret or certificate exists to store, rotate or leak. The Graph application permissions are declared
// (requiredResourceAccess) so that a customer's admin consent (the URL this module outputs) grants exactly them.
// The deploying user needs Application Developer or Application Administrator (or an app owner) in this tenant.
// Entra accepts a wrong issuer, subject or audience silently when the credential is created; it only fails at the
// token exchange (AADSTS70021), so they are derived here, never typed in.

extension microsoftGraphV1

@description('Unique name of the app registration: its key, so that a redeploy updates the same app.')
param uniqueName string

@description('Display name that customer administrators see on the consent prompt and in their enterprise apps.')
param displayName string

@description('Principal (object) id of the user-assigned managed identity the app trusts as its credential.')
param identityPrincipalId string

@description('Microsoft Graph application permissions (app role values) the app asks each customer tenant for.')
param appRoles array

@description('Where the admin-consent flow returns the customer administrator: the function app\'s URL.')
param consentRedirectUri string

var graphAppId = '00000003-0000-0000-c000-000000000000'
// The home tenant's issuer: the managed identity's tokens come from it. environment() gives
// https://login.microsoftonline.com/ in the public cloud, the only cloud the extension deploys to.
var issuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
// Entra's token-exchange audience in the public cloud; the app asks for it too (GRAPH_CLOUD=Global).
var tokenExchangeAudience = 'api://AzureADTokenExchange'

// Microsoft Graph's service principal: its app id is the same in every tenant; role ids are looked up by value.
resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: [
      consentRedirectUri
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [for appRole in appRoles: {
        id: filter(graph.appRoles, role => role.value == appRole)[0].id
        type: 'Role'
      }]
    }
  ]

  resource trustsIdentity 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/function-app-identity'
    description: 'The function app\'s user-assigned managed identity: the app\'s only credential.'
    issuer: issuer
    subject: identityPrincipalId
    audiences: [
      tokenExchangeAudience
    ]
  }
}

// The app's service principal in this (the home) tenant; customer tenants get theirs when their admin consents.
resource homeServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

output appId string = app.appId
output homeServicePrincipalId string = homeServicePrincipal.id
output federatedCredentialIssuer string = issuer
// Replace {customer-tenant-id} and send the URL to the customer's Global or Privileged Role Administrator.
output adminConsentUrlTemplate string = '${environment().authentication.loginEndpoint}{customer-tenant-id}/v2.0/adminconsent?client_id=${app.appId}&scope=${environment().graph}.default&redirect_uri=${uriComponent(consentRedirectUri)}'
