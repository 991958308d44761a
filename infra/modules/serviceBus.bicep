// Rotation events for consumers and on-call (lib/events). Identity only (local SAS auth off).
param location string
param tags object
param namespaceName string
param topicName string
param appPrincipalId string

var roles = loadJsonContent('../builtInRoles.json')

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' } // topics need Standard
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    // messageId is rotationId:type:seq, so a replayed activity's publish is dropped here. A day
    // covers an orchestration replaying after a long Key Vault back-off.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    supportOrdering: true
    defaultMessageTimeToLive: 'P14D'
  }
}

// A sample consumer: every event, for a dashboard or an audit sink.
resource allEvents 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: 'all-events'
  properties: {
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    lockDuration: 'PT1M'
  }
}

// A sample on-call feed: only events whose applicationProperties.severity is critical.
resource oncall 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: 'oncall-critical'
  properties: {
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
  }
}

resource oncallFilter 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2022-10-01-preview' = {
  parent: oncall
  name: 'critical-only'
  properties: {
    filterType: 'CorrelationFilter'
    correlationFilter: { properties: { severity: 'critical' } }
  }
}

// Azure Service Bus Data Sender on the events topic only: keyrotor publishes and never receives,
// manages or sends anywhere else in the namespace.
resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, roles.AzureServiceBusDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.AzureServiceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output topicName string = topic.name
