// What keyrotor's secret providers (docs/secret-providers.md) may do at the services whose
// credentials they rotate, in one resource group: list and regenerate keys, nothing more. No data
// access, no configuration. Deployed into the resource group that holds the resources.
param appPrincipalId string

@description('Storage accounts (names, in this resource group) whose key1/key2 keyrotor rotates.')
param storageAccounts array = []

@description('Service Bus namespaces (names, in this resource group) whose SAS rules keyrotor rotates (namespace, queue and topic rules).')
param serviceBusNamespaces array = []

@description('Cosmos DB accounts (names, in this resource group) whose keys keyrotor rotates.')
param cosmosAccounts array = []

var roles = loadJsonContent('../builtInRoles.json')

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = [for name in storageAccounts: {
  name: name
}]

resource namespaces 'Microsoft.ServiceBus/namespaces@2021-11-01' existing = [for name in serviceBusNamespaces: {
  name: name
}]

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = [for name in cosmosAccounts: {
  name: name
}]

// Storage Account Key Operator Service Role on each account keyrotor rotates: exactly
// storageAccounts/listkeys and storageAccounts/regeneratekey (read the slot not in use, regenerate
// it, regenerate the old one at retirement). Contributor or Reader-and-Data-Access would add reads
// of data or configuration the provider never needs.
resource storageKeyOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in storageAccounts: {
  name: guid(storage[i].id, appPrincipalId, roles.StorageAccountKeyOperatorServiceRole)
  scope: storage[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageAccountKeyOperatorServiceRole)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// No built-in role is limited to SAS rule keys (the Service Bus data roles cannot list keys, and
// Contributor can change the namespace): a custom role with the six key actions of namespace,
// queue and topic rules, assignable in this resource group only.
resource serviceBusKeyOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(serviceBusNamespaces)) {
  name: guid(resourceGroup().id, 'keyrotor-servicebus-sas-key-operator')
  properties: {
    roleName: 'keyrotor Service Bus SAS Key Operator (${resourceGroup().name})'
    description: 'Lists and regenerates the keys of Service Bus shared access authorization rules; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ServiceBus/namespaces/authorizationRules/listkeys/action'
          'Microsoft.ServiceBus/namespaces/authorizationRules/regenerateKeys/action'
          'Microsoft.ServiceBus/namespaces/queues/authorizationRules/listkeys/action'
          'Microsoft.ServiceBus/namespaces/queues/authorizationRules/regenerateKeys/action'
          'Microsoft.ServiceBus/namespaces/topics/authorizationRules/listkeys/action'
          'Microsoft.ServiceBus/namespaces/topics/authorizationRules/regenerateKeys/action'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// The Service Bus key role on each namespace keyrotor rotates rules of (it covers the namespace's
// queue and topic rules too), not on the resource group: other namespaces stay out of reach.
resource serviceBusKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in serviceBusNamespaces: {
  name: guid(namespaces[i].id, appPrincipalId, 'keyrotor-servicebus-sas-key-operator')
  scope: namespaces[i]
  properties: {
    roleDefinitionId: serviceBusKeyOperator.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// No built-in Cosmos DB role lists keys without also managing the account (DocumentDB Account
// Contributor): a custom role with listKeys and regenerateKey, plus databaseAccounts/read for the
// account's GET (the provider puts properties.documentEndpoint, which differs in sovereign clouds
// and custom setups, in the connection string). That read is an action here, not the built-in
// Cosmos DB Account Reader Role: that role also grants readonlykeys/action (read access to the
// account's data), Microsoft.DocumentDB/*/read, Microsoft.Authorization/*/read and support tickets.
resource cosmosKeyOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(cosmosAccounts)) {
  name: guid(resourceGroup().id, 'keyrotor-cosmosdb-key-operator')
  properties: {
    roleName: 'keyrotor Cosmos DB Key Operator (${resourceGroup().name})'
    description: 'Reads Cosmos DB accounts (their endpoint), lists and regenerates their keys; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.DocumentDB/databaseAccounts/read'
          'Microsoft.DocumentDB/databaseAccounts/listKeys/action'
          'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// The Cosmos DB key role on each account keyrotor rotates, not on the resource group.
resource cosmosKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in cosmosAccounts: {
  name: guid(cosmos[i].id, appPrincipalId, 'keyrotor-cosmosdb-key-operator')
  scope: cosmos[i]
  properties: {
    roleDefinitionId: cosmosKeyOperator.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]
