// One managed vault (created by keyVault.bicep or existing): what keyrotor may do in it, and its
// Event Grid system topic. Deployed into the vault's resource group.
param tags object
param vaultName string
param appPrincipalId string
param manageSecrets bool
param consumerPrincipalIds array
param eventGridIdentityId string
param systemTopicName string

var roles = loadJsonContent('../builtInRoles.json')

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

// Key Vault Crypto Officer on the managed keys' vault: rotation creates key versions, sets their
// expiry and rotation policy, disables retired and revoked versions (keys/create, update, rotate,
// rotationpolicy). Crypto User cannot create versions, so it would not suffice. Scoped to the
// vault, not a key: keyrotor takes new keys under management without a redeploy.
resource cryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.KeyVaultCryptoOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.KeyVaultCryptoOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer, only when keyrotor manages secrets (kind "secret"): rotating a secret
// sets a new version and disables old ones. Not granted otherwise: no secret is readable then.
resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (manageSecrets) {
  name: guid(vault.id, appPrincipalId, roles.KeyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.KeyVaultSecretsOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Crypto User for the services that consume the KEKs: unwrap (and wrap, read the public
// key) is all envelope decryption needs — they can neither create nor disable versions.
resource consumerCryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for p in consumerPrincipalIds: {
  name: guid(vault.id, p, roles.KeyVaultCryptoUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.KeyVaultCryptoUser)
    principalId: p
    principalType: 'ServicePrincipal'
  }
}]

// The vault's system topic, in the vault's region (see vaultSystemTopic.bicep): an existing vault
// may be anywhere, so the location is read from the vault, never taken from the deployment. A
// module, because a resource's location must be known when the deployment starts, and the
// vault's is known only once ARM reads the vault; a module parameter may wait for it.
module systemTopic 'vaultSystemTopic.bicep' = {
  name: 'systemTopic-${uniqueString(vault.id)}'
  params: {
    location: vault.location
    tags: tags
    name: systemTopicName
    vaultId: vault.id
    eventGridIdentityId: eventGridIdentityId
  }
}

output systemTopicName string = systemTopic.outputs.name
output vaultUri string = vault.properties.vaultUri
