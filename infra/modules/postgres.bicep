// Azure Database for PostgreSQL Flexible Server and the app's database.
// require_secure_transport keeps its default (on): connection URLs carry sslmode=require.

param name string
param location string
param tags object = {}

param administratorLogin string

@secure()
param administratorLoginPassword string

param databaseName string
param skuName string
param skuTier string
param storageSizeGB int = 32

@description('Public IP of the machine running azd (the migration hook connects from it). Empty: no rule.')
param deployerIpAddress string = ''

@description('The app reaches the server through a private endpoint (modules/network.bicep): no rule for Azure at large, and public access only for deployerIpAddress (none without it). Off: the allow-all-Azure rule 0.0.0.0 instead.')
param privateNetworking bool

@description('Turn on the server\'s built-in PgBouncer (port 6432) in transaction pooling mode. General Purpose and Memory Optimized only: main.bicep refuses it on Burstable.')
param pgbouncer bool = false

@description('pgbouncer.default_pool_size: server connections per user and database.')
param pgbouncerDefaultPoolSize int = 50

@description('pgbouncer.max_client_conn: client connections PgBouncer accepts.')
param pgbouncerMaxClientConn int = 5000

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2025-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorLoginPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: storageSizeGB
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: privateNetworking && empty(deployerIpAddress) ? 'Disabled' : 'Enabled'
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2025-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// Without privateNetworking only: 0.0.0.0-0.0.0.0 is the platform's "allow Azure services" rule,
// which admits the Function App's outbound addresses and every other client hosted in Azure, any
// tenant's (the role's password is then the only gate). Child operations on one server are
// serialized: the server accepts one at a time.
resource allowAzureServices 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2025-08-01' = if (!privateNetworking) {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    database
  ]
}

resource allowDeployer 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2025-08-01' = if (!empty(deployerIpAddress)) {
  parent: server
  name: 'AllowDeployerClientIp'
  properties: {
    startIpAddress: deployerIpAddress
    endIpAddress: deployerIpAddress
  }
  dependsOn: [
    database
    allowAzureServices
  ]
}

// PgBouncer's server parameters, all dynamic (no restart). enabled comes first: Azure shows the
// others only once it is true. pool_mode is written although transaction is Azure's default, so
// a change made in the portal is put back: the app relies on it being transaction (nothing
// session-scoped), and session mode would pin one server connection to every client. Without
// pgbouncer nothing is written: on Burstable the parameters do not exist, and a server switched
// back to direct keeps PgBouncer running unused on 6432.
var pgbouncerSettings = [
  { name: 'pgbouncer.enabled', value: 'true' }
  { name: 'pgbouncer.pool_mode', value: 'transaction' }
  { name: 'pgbouncer.default_pool_size', value: string(pgbouncerDefaultPoolSize) }
  { name: 'pgbouncer.max_client_conn', value: string(pgbouncerMaxClientConn) }
]

// One at a time, in that order, after the other child operations (the server takes one at a time).
@batchSize(1)
resource pgbouncerConfigurations 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2025-08-01' = [
  for setting in pgbouncerSettings: if (pgbouncer) {
    parent: server
    name: setting.name
    properties: {
      value: setting.value
      source: 'user-override'
    }
    dependsOn: [
      database
      allowAzureServices
      allowDeployer
    ]
  }
]

output name string = server.name
output id string = server.id
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
