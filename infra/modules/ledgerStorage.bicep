// keyrotor's tables: policies, inventory, DEKs, the rotation ledger and its seals, approvals, JWKS, lock fences, and the key hierarchy's branch keys and format-2 DEKs.
// Protection of the ledger here (Table storage has no soft delete and no immutability policy):
// - identity only (shared keys off), and only the app's identity holds a data role;
// - a CanNotDelete lock, so the account (and with it the ledger) cannot be deleted by accident;
// - every table write and delete is logged to Log Analytics (StorageWrite/StorageDelete);
// - the ledger is hash-chained and sealed with a Key Vault key the app cannot rotate
//   (ledgerVault.bicep): tampering is detected by `keyrotor ledger verify`, and the alert on
//   keyrotor.ledger.verified fires.
param location string
param tags object
param accountName string
param tableNames array
param appPrincipalId string
param workspaceId string
@description('CanNotDelete lock on the account; false only for throwaway environments (docs/deploy.md, "Tearing down").')
param deleteLock bool

var roles = loadJsonContent('../builtInRoles.json')

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in tableNames: {
  parent: tableService
  name: name
}]

resource lock 'Microsoft.Authorization/locks@2020-05-01' = if (deleteLock) {
  name: 'keyrotor-ledger-no-delete'
  scope: account
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds keyrotor\'s rotation ledger (audit evidence). Remove the lock deliberately, never by accident.'
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'keyrotor-table-audit'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}

// Storage Table Data Contributor (account): read and write keyrotor's tables — the ledger is
// append-only by code (createEntity, never update), which RBAC cannot express more narrowly; no
// blob or queue role is held on this account.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, roles.StorageTableDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output accountName string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
