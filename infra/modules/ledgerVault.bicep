// A small vault holding the key that signs ledger seals, apart from the managed vaults: keyrotor
// holds Crypto Officer there, and must not be able to rotate, disable or replace the key that
// attests its own ledger. Here it can only sign and verify with it.
param location string
param tags object
param vaultName string
@allowed([ 'default', 'recover' ])
@description('recover: bring back the soft-deleted vault of this name (after azd down) with its seal key, so old seals still verify.')
param createMode string
param appPrincipalId string
param workspaceId string

var roles = loadJsonContent('../builtInRoles.json')

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    createMode: createMode
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
  }
}

resource sealKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'keyrotor-ledger-seal'
  properties: {
    kty: 'RSA'
    keySize: 3072
    keyOps: [ 'sign', 'verify' ]
  }
}

// Key Vault Crypto User on the seal key only (key scope, not the vault): sign seals, verify them.
resource sealSigner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(sealKey.id, appPrincipalId, roles.KeyVaultCryptoUser)
  scope: sealKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.KeyVaultCryptoUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'keyrotor-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'audit', enabled: true } ]
  }
}

// Versionless: seals name the version they were signed with, and verify follows it.
output sealKeyUri string = sealKey.properties.keyUri
