// The operators' workbook (infra/monitoring/workbook.json): hit ratio, latency by cache status and
// tier, syntheses and failures, audio served, per-tenant savings and the hourly cleanup. Its
// source is the Function App, so it is listed in the Function App's Workbooks blade; its queries
// read the Application Insights component.

param location string
param tags object = {}
param functionAppId string
param applicationInsightsId string
@description('Shown as the workbook\'s default TTS price ($ per million characters), for the dollars saved.')
param ttsPricePerMillionChars string = '16'

var serialized = replace(replace(loadTextContent('../monitoring/workbook.json'), '{app-insights-id}', applicationInsightsId), '{tts-price}', ttsPricePerMillionChars)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID, stable for the deployment so that `azd up` updates it.
  name: guid(functionAppId, 'khipu-audition-cache-workbook')
  location: location
  tags: union(tags, { 'hidden-title': 'Khipu audition cache' })
  kind: 'shared'
  properties: {
    displayName: 'Khipu audition cache'
    category: 'workbook'
    sourceId: toLower(functionAppId)
    serializedData: serialized
  }
}

output id string = workbook.id
