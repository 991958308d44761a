// A Key Vault's Event Grid system topic. A system topic must be in its source's region (Key Vault
// is a regional source), so `location` is the vault's own (vaultAccess.bicep reads it). Its
// user-assigned identity is the Event Grid identity, which may only write to the dead-letter
// container (hostStorage.bicep). The subscription to the function is created after the code is
// deployed (eventSubscription.bicep, postdeploy hook).
param location string
param tags object
param name string
param vaultId string
param eventGridIdentityId string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${eventGridIdentityId}': {} }
  }
  properties: {
    source: vaultId
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

output name string = systemTopic.name
