// The on-call workbook: inventory, upcoming rotations, rotations in flight with progress, recent
// failures. Its JSON lives in infra/monitoring/workbook.json (edit it in the portal's Advanced
// Editor and paste it back); fallbackResourceIds binds it to this Application Insights.
param location string
param tags object
param appInsightsId string
@description('Log Analytics workspace that receives the Key Vault diagnostic logs.')
param workspaceId string
param displayName string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsId, 'keyrotor-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    // The Key Vault section queries the workspace that receives the vault's diagnostic logs.
    serializedData: replace(loadTextContent('../monitoring/workbook.json'), '{keyrotor-workspace}', workspaceId)
    version: 'Notebook/1.0'
  }
}

output workbookId string = workbook.id
