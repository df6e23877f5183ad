// privateNetworking: the app reaches PostgreSQL, Key Vault and the cache's storage account over
// private endpoints in a virtual network of its own, and none of the three needs a rule for Azure
// at large (no 0.0.0.0). One subnet is delegated to the Function App (Flex Consumption's VNet
// integration), one holds the endpoints; each endpoint's name resolves through a private DNS zone
// linked to the network. Costs: docs/deployment.md, "Network, identities and the database role".

param location string
param tags object = {}
param resourceToken string

@description('Address space of the virtual network: a /24 (or larger) that does not overlap a network it may be peered with.')
param addressPrefix string

param postgresServerId string
param keyVaultId string
param cacheStorageAccountId string

// The zone each service's private endpoint is resolved in, per cloud (Azure's "Private endpoint DNS
// zone values"): the public cloud's PostgreSQL zone does not follow from any environment() suffix.
var postgresZone = environment().name == 'AzureCloud'
  ? 'privatelink.postgres.database.azure.com'
  : 'privatelink.postgres${environment().suffixes.sqlServerHostname}'
var endpoints = [
  {
    name: 'postgres'
    target: postgresServerId
    groupId: 'postgresqlServer'
    zone: postgresZone
  }
  {
    name: 'vault'
    target: keyVaultId
    groupId: 'vault'
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  }
  {
    name: 'cache-blob'
    target: cacheStorageAccountId
    groupId: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
]

resource vnet 'Microsoft.Network/virtualNetworks@2026-03-01' = {
  name: 'vnet-${resourceToken}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        // A Flex Consumption app uses up to 40 addresses of it; a /26 leaves 59.
        name: 'app'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 26, 0)
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 27, 2)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: 'app'
  }

  resource endpointSubnet 'subnets' existing = {
    name: 'private-endpoints'
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for endpoint in endpoints: {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (endpoint, i) in endpoints: {
    parent: zones[i]
    name: vnet.name
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2026-03-01' = [
  for endpoint in endpoints: {
    name: 'pe-${endpoint.name}-${resourceToken}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet::endpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: endpoint.name
          properties: {
            privateLinkServiceId: endpoint.target
            groupIds: [
              endpoint.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2026-03-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: endpoint.name
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

output appSubnetId string = vnet::appSubnet.id
