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

output name string = server.name
output id string = server.id
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
