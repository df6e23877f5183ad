// Key Vault (RBAC authorization, soft delete) holding the app's secrets. The app reads them
// through Key Vault references resolved with the user-assigned identity (Key Vault Secrets User).

param name string
param location string
param tags object = {}

@secure()
param jwtSecretKey string

param postgresHost string

@allowed([
  5432
  6432
])
@description('The port in DATABASE_URL: 6432 is the server\'s built-in PgBouncer, 5432 PostgreSQL itself.')
param postgresPort int

@description('The app\'s own PostgreSQL role (tools/db/app-role.ts; the deploy hook creates it), never the server admin.')
param postgresAppLogin string

@secure()
param postgresAppPassword string

param postgresDatabaseName string

@description('Reached through a private endpoint: public network access closed but for deployerIpAddress.')
param privateNetworking bool

@description('Public IP allowed through the vault\'s firewall when privateNetworking (the deployer\'s secrets role). Empty: none.')
param deployerIpAddress string = ''

@secure()
@description('Optional service-wide Azure Speech key. Empty: no secret, projects bring their own key.')
param azureSpeechKey string = ''

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // The firewall is the data plane's only: the secrets below are written through Azure Resource
    // Manager whatever it says. The app reads them over the private endpoint.
    publicNetworkAccess: privateNetworking && empty(deployerIpAddress) ? 'Disabled' : 'Enabled'
    networkAcls: privateNetworking
      ? {
          defaultAction: 'Deny'
          bypass: 'None'
          ipRules: empty(deployerIpAddress)
            ? []
            : [
                {
                  value: deployerIpAddress
                }
              ]
        }
      : {
          defaultAction: 'Allow'
          bypass: 'AzureServices'
        }
  }
}

resource jwtSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  parent: vault
  name: 'jwt-secret-key'
  properties: {
    value: jwtSecretKey
  }
}

// The app connects as its own role: SELECT on the Khipu columns it reads, DML on its tables, no
// DDL (docs/database.md, "The app's role"). require_secure_transport is on, hence sslmode=require
// (PgBouncer on 6432 takes TLS too). Login and password are URL-encoded.
resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgresql://${uriComponent(postgresAppLogin)}:${uriComponent(postgresAppPassword)}@${postgresHost}:${postgresPort}/${postgresDatabaseName}?sslmode=require'
  }
}

resource speechKeySecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(azureSpeechKey)) {
  parent: vault
  name: 'azure-speech-key'
  properties: {
    value: azureSpeechKey
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
// Unversioned URIs: the app picks up a rotated secret without a redeploy.
output jwtSecretUri string = jwtSecret.properties.secretUri
output databaseUrlSecretUri string = databaseUrlSecret.properties.secretUri
output speechKeySecretUri string = speechKeySecret.?properties.secretUri ?? ''
