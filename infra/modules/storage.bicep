// The Functions host's storage account: AzureWebJobsStorage (timer leases, host keys) and the Flex
// Consumption deployment container. Nothing of the cache is here (modules/cache-storage.bicep).
// No shared key: the host reaches it as its own identity (rbac.bicep). It stays reachable from
// public networks, identity-only: Flex Consumption's deployment writes the package into it from
// the platform, not from the app's virtual network.

param name string
param location string
param tags object = {}

@description('Container Flex Consumption deploys the app package to.')
param deploymentContainerName string

resource account 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
