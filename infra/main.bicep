// Khipu audition cache on Azure, for `azd up`: resource group, Flex Consumption Function App, the
// host's storage and the cache's own, PostgreSQL Flexible Server, Key Vault, Log Analytics +
// Application Insights, two user-assigned identities (the app's code, the platform) and, with
// privateNetworking (default), a virtual network with private endpoints. See infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption and PostgreSQL Flexible Server in the tier of the chosen SKU.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of whoever runs azd (AZURE_PRINCIPAL_ID): may manage secrets and read cached audio. Empty: no roles.')
param principalId string = ''

@secure()
@minLength(1)
@description('The Khipu Cloud API token signing secret (azd env set JWT_SECRET_KEY ...). Stored in Key Vault.')
param jwtSecretKey string

@allowed([
  'HS256'
  'HS384'
  'HS512'
])
param jwtAlgorithm string = 'HS256'

@description('PostgreSQL administrator login (cannot change after the server is created).')
param postgresAdminLogin string = 'khipuadmin'

@secure()
@minLength(8)
@maxLength(128)
@description('PostgreSQL administrator password (azd env set POSTGRES_ADMIN_PASSWORD ...). The migration hook reads the same variable.')
param postgresAdminPassword string

@minLength(1)
@maxLength(63)
@description('The app\'s own PostgreSQL role, which DATABASE_URL logs in as (never the admin): lower-case letters, digits, _. The deploy hook creates or updates it (npm run db:app-role).')
param postgresAppLogin string = 'khipu_audition_cache'

@secure()
@minLength(16)
@maxLength(128)
@description('Its password (azd env set POSTGRES_APP_PASSWORD ...; printable ASCII, no spaces): in Key Vault\'s database-url, and given to the role by the deploy hook, which reads the same variable.')
param postgresAppPassword string

param postgresDatabaseName string = 'khipu_cloud'

@allowed([
  'pgbouncer'
  'direct'
])
@description('How the app reaches PostgreSQL. pgbouncer: the server\'s built-in PgBouncer (port 6432, transaction pooling), which shares pgbouncerDefaultPoolSize server connections among every instance\'s pool; General Purpose and Memory Optimized only. direct: PostgreSQL itself (port 5432), one server connection per pooled connection; any tier. docs/deployment.md compares them.')
param databaseConnection string = 'pgbouncer'

@description('PostgreSQL compute (a key of postgresSkus below; its tier follows). Empty: Standard_D2ds_v5 (General Purpose) with pgbouncer, Standard_B2s (Burstable) with direct. The deployment fails when the server cannot hold the connections the app may open (connectionBudgetCheck).')
param postgresSkuName string = ''

@minValue(1)
@description('DATABASE_POOL_MAX: every connection one Function App instance opens to the database, leases included (src/config.ts requires at least 1).')
param databasePoolMax int = 5

@minValue(0)
@description('Server connections kept for everyone but this app: the Khipu Cloud API on the same database, migrations, the cleanup CLI, operators.')
param postgresConnectionHeadroom int = 50

@minValue(1)
@maxValue(4950)
@description('With pgbouncer: pgbouncer.default_pool_size, the server connections PgBouncer opens per user and database. The app is one such pair (postgresAppLogin on postgresDatabaseName), so this is all it can hold on the server. Azure\'s default and range: 50, 1-4950.')
param pgbouncerDefaultPoolSize int = 50

@minValue(1)
@maxValue(50000)
@description('With pgbouncer: pgbouncer.max_client_conn, the client connections PgBouncer accepts from all clients together. Azure\'s default and range: 5000, 1-50000.')
param pgbouncerMaxClientConn int = 5000

@description('Public IP of the machine running azd, allowed through the PostgreSQL firewall so the migration hook can connect (azd env set DEPLOYER_IP_ADDRESS ...), and with privateNetworking through the Key Vault and cache storage firewalls. Empty: no rule.')
param deployerIpAddress string = ''

@description('The app reaches PostgreSQL, Key Vault and the cache\'s storage over private endpoints in a virtual network (modules/network.bicep); their public access is closed but for deployerIpAddress. false: no network, public endpoints, and PostgreSQL\'s allow-all-Azure rule (0.0.0.0), which admits any client hosted in Azure.')
param privateNetworking bool = true

@description('Address space of that virtual network (a /24): pick one that does not overlap a network it may be peered with.')
param virtualNetworkAddressPrefix string = '10.60.0.0/24'

@description('Blob container of the cached audio.')
param containerName string = 'audio-cache'

@minValue(1)
@description('Days a cache entry lives (CACHE_TTL_DAYS). Blobs are also deleted by a lifecycle rule TTL + 7 days after their last write.')
param cacheTtlDays int = 30

@minValue(1)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 40

@description('Browser origin of the Khipu Studio web client, allowed by the platform CORS.')
param corsAllowedOrigin string = 'https://app.khipu.studio'

@description('Host name of the Khipu Cloud API (e.g. khipu-api.azurewebsites.net). Set: an Azure Front Door gives the web app ONE base URL, sending the audition routes here and everything else to the Cloud API (modules/front-door.bicep). Empty (default): no front door.')
param cloudApiHostName string = ''

@secure()
@description('Optional service-wide Azure Speech key (kept in Key Vault). Empty: every project brings its own.')
param azureSpeechKey string = ''

@description('Region of that key, e.g. eastus (required with a key).')
param azureSpeechRegion string = ''

@description('Provision the scheduled query alerts (docs/operations.md, Monitoring; queries in infra/monitoring/alerts/).')
param enableAlerts bool = true

@description('E-mail address the alerts are sent to (an action group); empty: they fire in the portal only.')
param alertEmail string = ''

@description('Alert when failed syntheses ÷ all syntheses over 15 minutes exceed this (a decimal, as text).')
param alertTtsFailureRate string = '0.2'

@description('Alert when the cache, as the hourly cleanup counts it, exceeds this many MB.')
param alertCacheSizeMb int = 5000

@description('Alert when the day\'s hit ratio (at least 50 auditions) falls below this (a decimal, as text).')
param alertHitRatio string = '0.3'

@description('Alert when auditions answered BYPASS ÷ all answered over 15 minutes (at least 20) exceed this (a decimal, as text).')
param alertBypassRatio string = '0.2'

@description('Provision the operators\' workbook (infra/monitoring/workbook.json), listed in the Function App\'s Workbooks blade.')
param enableWorkbook bool = true

@description('The TTS price the workbook prices saved characters at, $ per million characters (TTS_PRICE_PER_MILLION_CHARS).')
param ttsPricePerMillionChars string = '16'

// The connection budget (docs/deployment.md: "Scale-out and the database's connections"). Default
// max_connections of Azure Database for PostgreSQL flexible server per compute size
// (learn.microsoft.com/azure/postgresql/flexible-server/concepts-limits), of which Azure keeps 15
// for replication and monitoring. A size not listed here fails the deployment: add it with its value.
var postgresSkus = {
  Standard_B1ms: { tier: 'Burstable', maxConnections: 50 }
  Standard_B2s: { tier: 'Burstable', maxConnections: 429 }
  Standard_B2ms: { tier: 'Burstable', maxConnections: 859 }
  Standard_B4ms: { tier: 'Burstable', maxConnections: 1718 }
  Standard_D2ds_v5: { tier: 'GeneralPurpose', maxConnections: 859 }
  Standard_D4ds_v5: { tier: 'GeneralPurpose', maxConnections: 1718 }
  Standard_D8ds_v5: { tier: 'GeneralPurpose', maxConnections: 3437 }
  Standard_E2ds_v5: { tier: 'MemoryOptimized', maxConnections: 1718 }
  Standard_E4ds_v5: { tier: 'MemoryOptimized', maxConnections: 3437 }
}
var postgresAzureReservedConnections = 15
var pooled = databaseConnection == 'pgbouncer'
var postgresSkuChosen = empty(postgresSkuName) ? (pooled ? 'Standard_D2ds_v5' : 'Standard_B2s') : postgresSkuName
var postgresSku = postgresSkus[?postgresSkuChosen] ?? fail('postgresSkuName ${postgresSkuChosen} is not in postgresSkus (infra/main.bicep): add it with its default max_connections.')
var postgresUsableConnections = postgresSku.maxConnections - postgresAzureReservedConnections
// What the app's instances may open together: server connections when direct, PgBouncer's client
// connections with pgbouncer. maximumInstanceCount is not a hard ceiling (Flex Consumption counts
// it per function group, and HTTP bursts have been reported past it, by how much unknown), so no
// burst factor is guessed here: the defaults use 200 of PgBouncer's 5,000 client connections.
var appConnections = maximumInstanceCount * databasePoolMax
// Direct: every one of them is a server connection.
var connectionBudget = appConnections + postgresConnectionHeadroom
// pgbouncer: PgBouncer opens at most default_pool_size server connections for the app's one
// user/database pair, however many clients queue for them.
var pgbouncerServerConnections = pgbouncerDefaultPoolSize + postgresConnectionHeadroom
// Fails the deployment (at validation, before anything is created) when the app could open more
// connections than the server, or PgBouncer, admits: at the first busy hour, authorization would
// fail closed. One expression, so that only the chosen mode's fail() is ever evaluated.
var connectionBudgetCheck = pooled
  ? (postgresSku.tier == 'Burstable'
      ? fail('databaseConnection pgbouncer needs a General Purpose or Memory Optimized server: ${postgresSkuChosen} is Burstable, where Azure\'s built-in PgBouncer is not available. Choose a Standard_D or Standard_E postgresSkuName, or databaseConnection direct.')
      : appConnections > pgbouncerMaxClientConn
          ? fail('PgBouncer client connections exceeded: maximumInstanceCount ${maximumInstanceCount} × databasePoolMax ${databasePoolMax} = ${appConnections}, but pgbouncerMaxClientConn is ${pgbouncerMaxClientConn}. Lower maximumInstanceCount or databasePoolMax, or raise pgbouncerMaxClientConn (at most 50000).')
          : pgbouncerServerConnections > postgresUsableConnections
              ? fail('Connection budget exceeded: pgbouncerDefaultPoolSize ${pgbouncerDefaultPoolSize} + postgresConnectionHeadroom ${postgresConnectionHeadroom} = ${pgbouncerServerConnections}, but ${postgresSkuChosen} admits ${postgresUsableConnections} (max_connections ${postgresSku.maxConnections} − ${postgresAzureReservedConnections} reserved by Azure). Lower pgbouncerDefaultPoolSize or postgresConnectionHeadroom, or choose a larger postgresSkuName.')
              : 'pgbouncer: ${maximumInstanceCount} instances × ${databasePoolMax} = ${appConnections} of ${pgbouncerMaxClientConn} client connections; pool ${pgbouncerDefaultPoolSize} + ${postgresConnectionHeadroom} headroom = ${pgbouncerServerConnections} of ${postgresUsableConnections} server connections (${postgresSkuChosen})')
  : connectionBudget <= postgresUsableConnections
      ? 'direct: ${maximumInstanceCount} instances × ${databasePoolMax} + ${postgresConnectionHeadroom} headroom = ${connectionBudget} of ${postgresUsableConnections} connections (${postgresSkuChosen})'
      : fail('Connection budget exceeded: maximumInstanceCount ${maximumInstanceCount} × databasePoolMax ${databasePoolMax} + postgresConnectionHeadroom ${postgresConnectionHeadroom} = ${connectionBudget}, but ${postgresSkuChosen} admits ${postgresUsableConnections} (max_connections ${postgresSku.maxConnections} − ${postgresAzureReservedConnections} reserved by Azure). Lower maximumInstanceCount or databasePoolMax, choose a larger postgresSkuName, or use databaseConnection pgbouncer.')
// The app's DATABASE_URL port; migrations and operators keep 5432 (session features, advisory locks).
var postgresAppPort = pooled ? 6432 : 5432

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var deploymentContainerName = 'app-package'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

// The app's code (AZURE_CLIENT_ID): the cache's blobs only.
module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

// The platform: host storage, the deployment package, Key Vault references, Application Insights.
module hostIdentity 'modules/identity.bicep' = {
  name: 'host-identity'
  scope: rg
  params: {
    name: 'id-host-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

// The Functions host's account (AzureWebJobsStorage, the deployment package).
module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

// The cache's own account (AZURE_STORAGE_ACCOUNT_NAME).
module cacheStorage 'modules/cache-storage.bicep' = {
  name: 'cache-storage'
  scope: rg
  params: {
    name: 'stcache${resourceToken}'
    location: location
    tags: tags
    containerName: containerName
    cacheTtlDays: cacheTtlDays
    privateNetworking: privateNetworking
    deployerIpAddress: deployerIpAddress
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  scope: rg
  params: {
    name: 'psql-${resourceToken}'
    location: location
    tags: tags
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    databaseName: postgresDatabaseName
    skuName: postgresSkuChosen
    skuTier: postgresSku.tier
    pgbouncer: pooled
    pgbouncerDefaultPoolSize: pgbouncerDefaultPoolSize
    pgbouncerMaxClientConn: pgbouncerMaxClientConn
    deployerIpAddress: deployerIpAddress
    privateNetworking: privateNetworking
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    jwtSecretKey: jwtSecretKey
    postgresHost: postgres.outputs.fqdn
    postgresPort: postgresAppPort
    postgresAppLogin: postgresAppLogin
    postgresAppPassword: postgresAppPassword
    postgresDatabaseName: postgres.outputs.databaseName
    azureSpeechKey: azureSpeechKey
    privateNetworking: privateNetworking
    deployerIpAddress: deployerIpAddress
  }
}

module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    addressPrefix: virtualNetworkAddressPrefix
    postgresServerId: postgres.outputs.id
    keyVaultId: keyVault.outputs.id
    cacheStorageAccountId: cacheStorage.outputs.id
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    hostPrincipalId: hostIdentity.outputs.principalId
    deployerPrincipalId: principalId
    hostStorageAccountName: storage.outputs.name
    cacheStorageAccountName: cacheStorage.outputs.name
    cacheContainerName: cacheStorage.outputs.containerName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.name
  }
}

module api 'modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: 'func-api-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostIdentityId: hostIdentity.outputs.id
    hostIdentityClientId: hostIdentity.outputs.clientId
    hostStorageAccountName: storage.outputs.name
    hostStorageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    cacheStorageAccountName: cacheStorage.outputs.name
    containerName: cacheStorage.outputs.containerName
    appSubnetId: privateNetworking ? network!.outputs.appSubnetId : ''
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    jwtSecretUri: keyVault.outputs.jwtSecretUri
    databaseUrlSecretUri: keyVault.outputs.databaseUrlSecretUri
    speechKeySecretUri: keyVault.outputs.speechKeySecretUri
    azureSpeechRegion: azureSpeechRegion
    jwtAlgorithm: jwtAlgorithm
    cacheTtlDays: cacheTtlDays
    maximumInstanceCount: maximumInstanceCount
    databasePoolMax: databasePoolMax
    corsAllowedOrigin: corsAllowedOrigin
  }
  // The app's first start needs its roles: storage for the host, Key Vault for its references
  // (with privateNetworking, appSubnetId makes it wait for the network and its endpoints too).
  dependsOn: [
    rbac
  ]
}

module frontDoor 'modules/front-door.bicep' = if (!empty(cloudApiHostName)) {
  name: 'front-door'
  scope: rg
  params: {
    resourceToken: resourceToken
    tags: tags
    cloudApiHostName: cloudApiHostName
    functionAppHostName: api.outputs.defaultHostName
  }
}

module workbook 'modules/workbook.bicep' = if (enableWorkbook) {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    functionAppId: api.outputs.id
    applicationInsightsId: monitoring.outputs.id
    ttsPricePerMillionChars: ttsPricePerMillionChars
  }
}

module alerts 'modules/alerts.bicep' = if (enableAlerts) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.id
    resourceToken: resourceToken
    alertEmail: alertEmail
    ttsFailureRateThreshold: alertTtsFailureRate
    cacheSizeMbThreshold: alertCacheSizeMb
    hitRatioThreshold: alertHitRatio
    bypassRatioThreshold: alertBypassRatio
  }
}

// azd writes these to .azure/<env>/.env; the predeploy hook in azure.yaml builds the admin's URL from
// POSTGRES_HOST, POSTGRES_ADMIN_LOGIN, POSTGRES_DATABASE and the POSTGRES_ADMIN_PASSWORD the
// deployer set, and gives the role POSTGRES_APP_LOGIN its POSTGRES_APP_PASSWORD. No secret is an output.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_ENDPOINTS array = [
  '${api.outputs.uri}/api'
]
output AZURE_FUNCTION_URL string = '${api.outputs.uri}/api'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = cacheStorage.outputs.name
output AZURE_STORAGE_CONTAINER_NAME string = cacheStorage.outputs.containerName
output AZURE_HOST_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output POSTGRES_HOST string = postgres.outputs.fqdn
output POSTGRES_ADMIN_LOGIN string = postgresAdminLogin
output POSTGRES_APP_LOGIN string = postgresAppLogin
output POSTGRES_DATABASE string = postgres.outputs.databaseName
output DATABASE_CONNECTION_BUDGET string = connectionBudgetCheck
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
// With cloudApiHostName: the web app's VITE_API_BASE_URL (both services behind one host).
output KHIPU_WEB_API_BASE_URL string = empty(cloudApiHostName) ? '' : frontDoor!.outputs.url
