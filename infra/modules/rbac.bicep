// Role assignments: each identity gets only what it uses, each on the one resource (or container)
// it is for. Two identities, so the credential the app's code holds (AZURE_CLIENT_ID, for
// DefaultAzureCredential) opens the cache's container and nothing else:
// - the app's (principalId): the cache's blobs;
// - the platform's (hostPrincipalId): the Functions host's storage and deployment package, Key Vault
//   references, Application Insights.

@description('Principal (object) id of the identity the app\'s code uses (AZURE_CLIENT_ID).')
param principalId string

@description('Principal (object) id of the identity the platform uses: host storage, deployment, Key Vault references, telemetry.')
param hostPrincipalId string

@description('Object id of the person or pipeline running azd (AZURE_PRINCIPAL_ID). Empty: no roles.')
param deployerPrincipalId string = ''

@description('The Functions host\'s storage account (AzureWebJobsStorage and the deployment container).')
param hostStorageAccountName string

@description('The cache\'s own storage account and its container of audio.')
param cacheStorageAccountName string
param cacheContainerName string

param keyVaultName string
param applicationInsightsName string

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: hostStorageAccountName
}

resource cacheStorage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: cacheStorageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource audio 'containers' existing = {
      name: cacheContainerName
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The cache: read, write, delete and list blobs of its one container (the container itself is
// made by cache-storage.bicep; the app never creates one there).
resource appCacheBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cacheStorage::blobService::audio.id, principalId, roles.storageBlobDataContributor)
  scope: cacheStorage::blobService::audio
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host with identity-based AzureWebJobsStorage: Storage Blob Data Owner is the
// documented minimum (Azure Functions developer guide, "Connecting to host storage with an
// identity": blob leases of the timer's singleton lock, host keys, and creating its containers).
// With HTTP and timer triggers only, no queue or table role (a Table Data Contributor would only
// let the host persist its diagnostic events). The deployment container is in this account: Flex
// Consumption uploads the package through this identity (Blob Data Contributor on it at least).
resource hostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, hostPrincipalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, hostPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, hostPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deployer may rotate secrets and list the cached audio (`az storage blob list --auth-mode login`).
// principalType is left out: azd may run as a user or as a service principal.
resource deployerSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
  }
}

resource deployerBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(cacheStorage::blobService::audio.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: cacheStorage::blobService::audio
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
  }
}
