// Microsoft Graph application permissions for the app's managed identity, granted as app role assignments with the
// Microsoft Graph Bicep extension (declared in ../bicepconfig.json; Bicep CLI 0.36.1 or later). A managed identity
// has no consent prompt: an app role assignment on its service principal is the grant. The deploying user needs
// AppRoleAssignment.ReadWrite.All and Application.Read.All in Microsoft Graph (e.g. Privileged Role Administrator).
// The extension deploys to the public cloud only; US Government clouds use scripts/grant-graph-permissions.sh.
// Assignments are only added: removing a role (e.g. turning actions off) is done with the script's --prune.

extension microsoftGraphV1

@description('Principal (object) id of the managed identity service principal.')
param principalId string

@description('Microsoft Graph application permissions (app role values) to grant, e.g. SecurityAlert.Read.All.')
param appRoles array

// Microsoft Graph's service principal in this tenant; its app id is the same in every tenant.
resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

// Role ids are looked up by value in Graph's own appRoles, not copied into the template.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRole in appRoles: {
  resourceId: graph.id
  principalId: principalId
  appRoleId: filter(graph.appRoles, role => role.value == appRole)[0].id
}]

output grantedAppRoles array = appRoles
