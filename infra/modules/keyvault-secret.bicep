// One Key Vault secret (used by keyvault.bicep for each secret it stores). A separate module keeps the secret
// resource unconditional, so policy scanners evaluate it; the caller decides whether to deploy it.

@description('Name of the existing Key Vault.')
param vaultName string

@description('Secret name.')
param name string

@description('Secret value.')
@secure()
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: the consumers check this exact value (a function key, or a credential whose expiry Entra ID enforces); a vault-side expiry would only break the Key Vault reference, rotation is a redeploy
  parent: vault
  name: name
  properties: {
    value: value
    contentType: 'text/plain'
  }
}

output name string = secret.name
