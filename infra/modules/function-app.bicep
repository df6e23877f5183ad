// The audition cache: a Linux Function App on a Flex Consumption plan (Node 24), with two
// user-assigned identities: the platform's (host storage, deployment package, Key Vault references,
// telemetry) and the app's (AZURE_CLIENT_ID: the cache's container only). No storage key and no
// secret value appear here: secrets are Key Vault references.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the identity the app\'s code uses (DefaultAzureCredential: the cache\'s blobs).')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID).')
param identityClientId string

@description('Resource id of the identity the platform uses: host storage, deployment, Key Vault references, telemetry.')
param hostIdentityId string

@description('Client id of that identity (AzureWebJobsStorage__clientId, APPLICATIONINSIGHTS_AUTHENTICATION_STRING).')
param hostIdentityClientId string

@description('The Functions host\'s storage account (AzureWebJobsStorage) and its deployment container.')
param hostStorageAccountName string
param hostStorageBlobEndpoint string
param deploymentContainerName string

@description('AZURE_STORAGE_ACCOUNT_NAME: the cache\'s own storage account.')
param cacheStorageAccountName string

@description('AZURE_STORAGE_CONTAINER_NAME.')
param containerName string

@description('Subnet of the virtual network integration (modules/network.bicep). Empty: none.')
param appSubnetId string = ''

param applicationInsightsConnectionString string

param jwtSecretUri string
param databaseUrlSecretUri string

@description('Empty when no service-wide Speech key was given.')
param speechKeySecretUri string = ''

param azureSpeechRegion string = ''
param jwtAlgorithm string = 'HS256'
param cacheTtlDays int
param maximumInstanceCount int
@description('DATABASE_POOL_MAX: connections per instance (main.bicep checks instances × this against PgBouncer\'s max_client_conn, or the server\'s max_connections when direct).')
param databasePoolMax int
param corsAllowedOrigin string

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// Names are the ones src/config.ts reads (docs/configuration.md, "Settings"). Flex Consumption sets the worker
// runtime from functionAppConfig, so FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not
// set. AZURE_STORAGE_CONNECTION_STRING is deliberately absent: blobs go through the identity.
// PROJECT_STORAGE_ALLOW_ANY_ENDPOINT is development-only and never set here (a project's storage
// endpoint must then be an Azure blob endpoint); test/infra/bicep.test.ts holds the template to it.
var appSettings = {
  AzureWebJobsStorage__accountName: hostStorageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: hostIdentityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${hostIdentityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId // DefaultAzureCredential picks the app's identity
  DATABASE_URL: '@Microsoft.KeyVault(SecretUri=${databaseUrlSecretUri})'
  // The instance's connection budget (docs/deployment.md: instances × DATABASE_POOL_MAX + headroom ≤ the server's connections).
  DATABASE_POOL_MAX: string(databasePoolMax)
  DATABASE_RECONNECT_SECONDS: '3'
  DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: '100000'
  JWT_SECRET_KEY: '@Microsoft.KeyVault(SecretUri=${jwtSecretUri})'
  JWT_ALGORITHM: jwtAlgorithm
  AZURE_STORAGE_ACCOUNT_NAME: cacheStorageAccountName
  AZURE_STORAGE_CONTAINER_NAME: containerName
  // Blank means unset to the app: projects then need their own key (settings.azure_tts_key).
  AZURE_SPEECH_KEY: empty(speechKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${speechKeySecretUri})'
  AZURE_SPEECH_REGION: azureSpeechRegion
  CACHE_TTL_DAYS: string(cacheTtlDays)
  CACHE_MAX_ENTRIES_PER_TENANT: '10000'
  CACHE_CLEANUP_SCHEDULE: '0 0 * * * *'
  MEMORY_CACHE_MB: '64'
  AUTH_CACHE_SECONDS: '30'
  HIT_FLUSH_SECONDS: '5'
  TTS_PRICE_PER_MILLION_CHARS: '16'
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
      '${hostIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the platform's identity (the app has no system-assigned one).
    keyVaultReferenceIdentity: hostIdentityId
    // Outbound through the virtual network: PostgreSQL, Key Vault and the cache's blobs over their
    // private endpoints (their names resolve to them through the network's private DNS zones).
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // Platform CORS has no "exposed headers" setting: the app itself sends
      // Access-Control-Expose-Headers (X-Cache-Status, X-Audio-Duration, ...) on audio responses.
      cors: {
        allowedOrigins: [
          corsAllowedOrigin
        ]
        supportCredentials: false
      }
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: hostIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '24'
      }
    }
  }
}

resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
