// Log Analytics workspace and a workspace-based Application Insights component. Where Microsoft Entra ingestion is
// used (entraIngestionOnly), local (instrumentation key) authentication is off: the app ingests telemetry with its
// managed identity (Monitoring Metrics Publisher, see rbac.bicep) and APPLICATIONINSIGHTS_AUTHENTICATION_STRING, so
// a leaked connection string cannot be used to write.

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for both resources.')
param tags object = {}

@description('Days Log Analytics keeps the data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Accept only Microsoft Entra authenticated telemetry (local authentication off).')
param entraIngestionOnly bool = true

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // Only Entra ID-authenticated ingestion (Azure Monitor pipelines), no workspace shared keys.
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: entraIngestionOnly
  }
}

// Who queried the workspace (LAQueryLogs) and its own health metrics. Application Insights needs no setting of its
// own: as a workspace-based component its telemetry is already stored in this workspace (AppRequests, AppTraces...).
resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'audit'
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

output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output logAnalyticsId string = workspace.id
