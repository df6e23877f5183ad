// Optional (main.bicep's cloudApiHostName): one front door for the Khipu web app, which has a
// single base URL for every call (`${VITE_API_BASE_URL}/api/v1`, token refresh included).
// Azure Front Door Standard sends the audition cache's routes to the Function App and every
// other path to the Khipu Cloud API:
//   POST /api/v1/projects/{id}/characters/audition          → Function App
//   POST /api/v1/projects/{id}/voices/{voiceId}/audition    → Function App
//   POST /api/v1/projects/{id}/characters/auditions/prewarm → Function App
//   GET|DELETE /api/v1/audio-cache[/stats]                  → Function App
//   anything else (/api/v1/auth/refresh, projects, …)       → Khipu Cloud API
// The project routes have variable segments in the middle, which route patterns cannot express
// (they match prefixes), so a rule overrides the origin group for them; /api/v1/audio-cache is
// a plain route of its own. Nothing is cached at the edge (auditions carry Authorization).

@description('Seeds the resource names.')
param resourceToken string

param tags object

@description('Host name of the Khipu Cloud API (e.g. khipu-api.azurewebsites.net).')
param cloudApiHostName string

@description('Default host name of the audition cache Function App.')
param functionAppHostName string

resource profile 'Microsoft.Cdn/profiles@2026-07-01' = {
  name: 'afd-${resourceToken}'
  location: 'global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2026-07-01' = {
  parent: profile
  name: 'khipu-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

var healthProbe = {
  probePath: '/'
  probeRequestType: 'HEAD'
  probeProtocol: 'Https'
  probeIntervalInSeconds: 120
}

resource cloudApiGroup 'Microsoft.Cdn/profiles/originGroups@2026-07-01' = {
  parent: profile
  name: 'khipu-cloud-api'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    healthProbeSettings: healthProbe
  }
}

resource cloudApiOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2026-07-01' = {
  parent: cloudApiGroup
  name: 'cloud-api'
  properties: {
    hostName: cloudApiHostName
    originHostHeader: cloudApiHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}

resource auditionGroup 'Microsoft.Cdn/profiles/originGroups@2026-07-01' = {
  parent: profile
  name: 'audition-cache'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    healthProbeSettings: union(healthProbe, { probePath: '/api/health', probeRequestType: 'GET' })
  }
}

resource auditionOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2026-07-01' = {
  parent: auditionGroup
  name: 'function-app'
  properties: {
    hostName: functionAppHostName
    originHostHeader: functionAppHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}

resource auditionRules 'Microsoft.Cdn/profiles/ruleSets@2026-07-01' = {
  parent: profile
  name: 'auditioncache'
}

resource auditionRoutesRule 'Microsoft.Cdn/profiles/ruleSets/rules@2026-07-01' = {
  parent: auditionRules
  name: 'auditionRoutes'
  properties: {
    order: 1
    matchProcessingBehavior: 'Stop'
    conditions: [
      {
        name: 'UrlPath'
        parameters: {
          typeName: 'DeliveryRuleUrlPathMatchConditionParameters'
          operator: 'RegEx'
          negateCondition: false
          // The path as the rules engine sees it (no leading slash).
          matchValues: [
            'api/v1/projects/[^/]+/(characters/audition|characters/auditions/prewarm|voices/[^/]+/audition)/?$'
          ]
          transforms: []
        }
      }
    ]
    actions: [
      {
        name: 'RouteConfigurationOverride'
        parameters: {
          typeName: 'DeliveryRuleRouteConfigurationOverrideActionParameters'
          originGroupOverride: {
            originGroup: {
              id: auditionGroup.id
            }
            forwardingProtocol: 'HttpsOnly'
          }
        }
      }
    ]
  }
}

// Everything not matched below goes to the Cloud API; the rule above re-targets the audition routes.
resource defaultRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2026-07-01' = {
  parent: endpoint
  name: 'cloud-api'
  dependsOn: [
    cloudApiOrigin
  ]
  properties: {
    originGroup: {
      id: cloudApiGroup.id
    }
    ruleSets: [
      {
        id: auditionRules.id
      }
    ]
    supportedProtocols: [
      'Https'
    ]
    patternsToMatch: [
      '/*'
    ]
    forwardingProtocol: 'HttpsOnly'
    httpsRedirect: 'Enabled'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}

resource cacheOperationsRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2026-07-01' = {
  parent: endpoint
  name: 'audio-cache-operations'
  dependsOn: [
    auditionOrigin
  ]
  properties: {
    originGroup: {
      id: auditionGroup.id
    }
    supportedProtocols: [
      'Https'
    ]
    patternsToMatch: [
      '/api/v1/audio-cache'
      '/api/v1/audio-cache/*'
    ]
    forwardingProtocol: 'HttpsOnly'
    httpsRedirect: 'Enabled'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}

@description('The one base URL for the web app: VITE_API_BASE_URL.')
output url string = 'https://${endpoint.properties.hostName}'
