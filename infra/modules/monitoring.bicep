// Log Analytics workspace and a workspace-based Application Insights component.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
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
    // The Functions host sends with Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING, role
    // Monitoring Metrics Publisher). Local auth stays on so telemetry sent from app code with the
    // connection string alone is not rejected; set true once every sender authenticates.
    DisableLocalAuth: false
  }
}

output name string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
output id string = appInsights.id
