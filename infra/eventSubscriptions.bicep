// Event Grid subscriptions from each managed vault's system topic to the keyVaultEvents function.
// Deployed by infra/hooks/postdeploy.sh after the code, because the webhook URL carries the
// function host's eventgrid_extension system key, which exists only once the host has started
// with an Event Grid trigger. Parameters come from main.bicep's outputs (azd env).
targetScope = 'subscription'

@description('Resource group of the Function App (AZURE_RESOURCE_GROUP).')
param appResourceGroup string

@description('KEYROTOR_FUNCTION_APP_NAME')
param functionAppName string

@description('KEYROTOR_SYSTEM_TOPICS: [{ name, resourceGroup, vaultName }].')
param systemTopics array

@description('KEYROTOR_DEADLETTER_STORAGE_ID')
param deadLetterStorageId string

@description('KEYROTOR_DEADLETTER_CONTAINER')
param deadLetterContainer string

@description('KEYROTOR_EVENTGRID_IDENTITY_ID: the identity the system topics dead-letter with.')
param eventGridIdentityId string

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
  scope: resourceGroup(appResourceGroup)
}

module subscription 'modules/eventSubscription.bicep' = [for (t, i) in systemTopics: {
  name: 'keyrotor-eventsub-${i}'
  scope: resourceGroup(t.resourceGroup)
  params: {
    systemTopicName: t.name
    // The Functions host answers Event Grid's validation handshake on this endpoint itself.
    endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${listKeys('${app.id}/host/default', '2024-04-01').systemKeys.eventgrid_extension}'
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainer: deadLetterContainer
    eventGridIdentityId: eventGridIdentityId
  }
}]
