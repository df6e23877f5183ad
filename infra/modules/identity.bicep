// A user-assigned identity of the Function App. main.bicep makes two: the app's (id-api-…, the
// cache's blobs only) and the platform's (id-host-…, host storage, deployment package, Key Vault
// references, Application Insights). Their roles: rbac.bicep.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
