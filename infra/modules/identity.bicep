// The user-assigned managed identity the function app runs as. One identity for storage, Key Vault references,
// App Insights ingestion and Microsoft Graph: it exists before the app, so every role can be granted before the
// app's first start, and it survives a re-created app (Graph app roles are granted to it once).

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
