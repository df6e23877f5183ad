// Key Vault (RBAC authorization, soft delete) holding the app's secrets. The app reads them
// through Key Vault references resolved with the user-assigned identity (Key Vault Secrets User).

param name string
param location string
param tags object = {}

@secure()
param jwtSecretKey string

param postgresHost string
param postgresAdminLogin string

@secure()
param postgresAdminPassword string

param postgresDatabaseName string

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
    publicNetworkAccess: 'Enabled'
  }
}

resource jwtSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  parent: vault
  name: 'jwt-secret-key'
  properties: {
    value: jwtSecretKey
  }
}

// require_secure_transport is on, hence sslmode=require. Login and password are URL-encoded.
resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgresql://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${postgresHost}:5432/${postgresDatabaseName}?sslmode=require'
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
output uri string = vault.properties.vaultUri
// Unversioned URIs: the app picks up a rotated secret without a redeploy.
output jwtSecretUri string = jwtSecret.properties.secretUri
output databaseUrlSecretUri string = databaseUrlSecret.properties.secretUri
output speechKeySecretUri string = speechKeySecret.?properties.secretUri ?? ''
