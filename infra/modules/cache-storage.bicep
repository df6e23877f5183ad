// The audio cache's own storage account (AZURE_STORAGE_ACCOUNT_NAME): one private container of
// cached auditions, nothing of the Functions host. The app's identity may read and write blobs in
// that container only (rbac.bicep). With privateNetworking the account is reached through its
// private endpoint (modules/network.bicep); from public networks only from the deployer's IP, if given.

param name string
param location string
param tags object = {}

@description('Container of the cached audio (AZURE_STORAGE_CONTAINER_NAME).')
param containerName string

@description('CACHE_TTL_DAYS: the lifecycle rule deletes audio blobs 7 days after that.')
param cacheTtlDays int

@description('Reached through a private endpoint: public network access closed but for deployerIpAddress.')
param privateNetworking bool

@description('Public IP allowed through the firewall when privateNetworking (to list the cached audio). Empty: none.')
param deployerIpAddress string = ''

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
                  action: 'Allow'
                }
              ]
        }
      : {
          defaultAction: 'Allow'
          bypass: 'AzureServices'
        }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: account
  name: 'default'
}

resource audioContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

// Backstop behind the hourly cleanup timer: audio lives at
// {container}/audio-cache/{tenant_id}/{cache_key}.mp3 and its row expires CACHE_TTL_DAYS after it
// was written (hits do not extend it), so a blob untouched for TTL + 7 days is one the timer missed.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2026-09-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-audio-cache'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/audio-cache/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: cacheTtlDays + 7
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    audioContainer
  ]
}

output name string = account.name
output id string = account.id
output containerName string = audioContainer.name
