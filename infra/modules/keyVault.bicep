// A vault for the managed keys, when no existing vaults are given. RBAC mode (no access policies),
// soft delete and purge protection: a deleted key version can always be recovered within 90 days,
// and not even an owner can purge it sooner — data wrapped under it stays decryptable.
param location string
param tags object
param vaultName string
@allowed([ 'standard', 'premium' ])
param sku string
@allowed([ 'default', 'recover' ])
@description('recover: bring back the soft-deleted vault of this name (after azd down), keys and all.')
param createMode string
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    createMode: createMode
    sku: { family: 'A', name: sku }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

// Key Vault's own audit log (who used which key version) next to keyrotor's telemetry.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'keyrotor-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'audit', enabled: true } ]
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
