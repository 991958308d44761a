// keyrotor on Azure: `azd up` deploys this template (azure.yaml). Everything the app reaches, it
// reaches as one user-assigned managed identity holding only the built-in roles in
// infra/builtInRoles.json (each assignment says why): no account keys, no secrets in settings.
//
// Outside this template (and why):
// - The Entra app registration with the app roles KeyRotation.Operator/Approver/Auditor/Admin:
//   ARM cannot create Entra objects. infra/hooks/preprovision.sh creates it from
//   infra/auth/appRoles.json and stores its client id as AUTH_CLIENT_ID (-> authClientId).
// - Event Grid subscriptions: they point at the function's webhook, which needs the function's
//   eventgrid_extension system key, which exists only after the code is deployed.
//   infra/hooks/postdeploy.sh deploys infra/eventSubscriptions.bicep with this template's outputs.
targetScope = 'subscription'

import { resourceGroupName, taskHubName } from 'naming.bicep'

// Every name azd accepts (^[a-zA-Z0-9-()_.]{1,64}$); names derived from it are made valid in
// naming.bicep, where a test evaluates them for a table of such names.
@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource (Flex Consumption must be available there).')
param location string

@description('Client id of the Entra app registration Easy Auth accepts tokens for (created by infra/hooks/preprovision.sh).')
param authClientId string

@description('Existing vaults keyrotor manages, as JSON [{ "name": "...", "resourceGroup": "..." }] (same subscription). "[]": a vault is created. A string, because azd passes environment values as strings.')
param existingVaultsJson string = '[]'

@description('keyrotor rotates Key Vault secrets (kind "secret") in the managed vaults: grants Key Vault Secrets Officer there.')
param manageSecrets bool = true

@description('Comma-separated principal ids of the services that unwrap DEKs with the managed KEKs. They get Key Vault Crypto User on the managed vaults, nothing more.')
param consumerPrincipalIds string = ''

@description('Resources whose keys keyrotor\'s secret providers rotate (docs/secret-providers.md), as JSON [{ "resourceGroup": "...", "storageAccounts": [...], "serviceBusNamespaces": [...], "cosmosAccounts": [...] }] (same subscription). Each gets only list/regenerate-key rights for the app. A string, because azd passes environment values as strings.')
param rotatedResourcesJson string = '[]'

@allowed([ 'standard', 'premium' ])
@description('Key Vault SKU of a created vault; premium for HSM-backed KEKs.')
param keyVaultSku string = 'standard'

// Vaults are purge-protected, so after `azd down` their names stay taken by the soft-deleted vault
// for 90 days and a plain create fails; 'recover' brings the soft-deleted vault (and its keys)
// back instead. infra/hooks/preprovision.sh sets these from what it finds (docs/deploy.md).
@allowed([ 'default', 'recover' ])
@description('createMode of the created managed-keys vault: recover after azd down (set by the preprovision hook).')
param keyVaultCreateMode string = 'default'

@allowed([ 'default', 'recover' ])
@description('createMode of the ledger seal vault: recover after azd down (set by the preprovision hook).')
param ledgerVaultCreateMode string = 'default'

@description('CanNotDelete lock on the ledger account. azd down fails while it stands (by design); false only for throwaway environments.')
param ledgerDeleteLock bool = true

@description('E-mail address for alert notifications (empty: alerts fire without notifying anyone).')
param alertEmail string = ''

@description('Service Bus topic for rotation events; the code\'s default of KEYROTOR_EVENTS_TOPIC.')
param eventsTopicName string = 'key-rotation-events'

@description('NCRONTAB (6 fields) of the policy timer.')
param timerSchedule string = '0 */15 * * * *'

@description('Share of Key Vault\'s per-vault limit a rewrap may use (other apps share the vault).')
param vaultBudgetFraction string = '0.8'

param rewrapBatchSize string = '500'

@description('Key hierarchy: the signing key trusted to sign branch-key records, signing:<vault>/<key> of a managed vault (empty: no KEK may have branch keys rotated).')
param branchSigningKeyId string = ''

@description('Format-1 DEKs: refuse unsigned (legacy) rows; needs branchSigningKeyId (docs/flat-dek-signatures.md says when to turn it on).')
@allowed(['true', 'false'])
param flatDeksRequireSignature string = 'false'

@description('Key hierarchy: shared branch keys per KEK for newly assigned tenants.')
param branchKeysPerKek string = '256'

@description('Key hierarchy: seconds one activity call of a hierarchy workflow runs before it returns with more to do (under functionTimeout).')
param hierarchySliceSeconds string = '120'
param emergencyApprovalWindow string = 'PT1H'
param ledgerRetention string = 'P7Y'

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([ 512, 2048, 4096 ])
param instanceMemoryMB int = 2048

param tags object = {}

var existingVaults = json(existingVaultsJson)
var consumers = filter(map(split(consumerPrincipalIds, ','), p => trim(p)), p => !empty(p))
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName, app: 'keyrotor' })

// keyrotor's tables, named as the code's defaults (lib/config.ts); a test holds these to the code.
var tables = {
  policies: 'policies'
  inventory: 'inventory'
  deks: 'deks'
  ledger: 'rotationledger'
  seals: 'ledgerseals'
  approvals: 'approvals'
  jwks: 'jwks'
  locks: 'locks'
  branchKeys: 'branchkeys'
  branchDeks: 'branchdeks'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName(environmentName)
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: allTags
    appIdentityName: 'id-keyrotor-${resourceToken}'
    eventGridIdentityName: 'id-keyrotor-eg-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: allTags
    workspaceName: 'log-${resourceToken}'
    appInsightsName: 'appi-${resourceToken}'
    appPrincipalId: identity.outputs.appPrincipalId
  }
}

module hostStorage 'modules/hostStorage.bicep' = {
  name: 'hostStorage'
  scope: rg
  params: {
    location: location
    tags: allTags
    accountName: 'stfn${resourceToken}'
    appPrincipalId: identity.outputs.appPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridPrincipalId
  }
}

module ledgerStorage 'modules/ledgerStorage.bicep' = {
  name: 'ledgerStorage'
  scope: rg
  params: {
    location: location
    tags: allTags
    accountName: 'stkr${resourceToken}'
    tableNames: [ tables.policies, tables.inventory, tables.deks, tables.ledger, tables.seals, tables.approvals, tables.jwks, tables.locks, tables.branchKeys, tables.branchDeks ]
    appPrincipalId: identity.outputs.appPrincipalId
    workspaceId: monitoring.outputs.workspaceId
    deleteLock: ledgerDeleteLock
  }
}

module createdVault 'modules/keyVault.bicep' = if (empty(existingVaults)) {
  name: 'keyVault'
  scope: rg
  params: {
    location: location
    tags: allTags
    vaultName: 'kv-kr-${resourceToken}'
    sku: keyVaultSku
    createMode: keyVaultCreateMode
    workspaceId: monitoring.outputs.workspaceId
  }
}

var managedVaults = empty(existingVaults) ? [ { name: 'kv-kr-${resourceToken}', resourceGroup: resourceGroupName(environmentName) } ] : existingVaults

// One module per managed vault, in the vault's own resource group: role assignments and the
// vault's Event Grid system topic (a vault has at most one system topic; it lives in the vault's
// region, which vaultAccess reads from the vault itself).
module vaultAccess 'modules/vaultAccess.bicep' = [for (v, i) in managedVaults: {
  name: 'vaultAccess-${i}'
  scope: resourceGroup(v.resourceGroup)
  params: {
    tags: allTags
    vaultName: v.name
    appPrincipalId: identity.outputs.appPrincipalId
    manageSecrets: manageSecrets
    consumerPrincipalIds: consumers
    eventGridIdentityId: identity.outputs.eventGridIdentityId
    systemTopicName: 'evgt-${v.name}'
  }
  dependsOn: [ createdVault ]
}]

// One module per resource group holding credentials the secret providers rotate: key rights on
// exactly the named resources (modules/secretProviderAccess.bicep says which and why).
module secretProviderAccess 'modules/secretProviderAccess.bicep' = [for (t, i) in json(rotatedResourcesJson): {
  name: 'secretProviderAccess-${i}'
  scope: resourceGroup(t.resourceGroup)
  params: {
    appPrincipalId: identity.outputs.appPrincipalId
    storageAccounts: t.?storageAccounts ?? []
    serviceBusNamespaces: t.?serviceBusNamespaces ?? []
    cosmosAccounts: t.?cosmosAccounts ?? []
  }
}]

module ledgerVault 'modules/ledgerVault.bicep' = {
  name: 'ledgerVault'
  scope: rg
  params: {
    location: location
    tags: allTags
    vaultName: 'kv-krl-${resourceToken}'
    createMode: ledgerVaultCreateMode
    appPrincipalId: identity.outputs.appPrincipalId
    workspaceId: monitoring.outputs.workspaceId
  }
}

module serviceBus 'modules/serviceBus.bicep' = {
  name: 'serviceBus'
  scope: rg
  params: {
    location: location
    tags: allTags
    namespaceName: 'sb-kr-${resourceToken}'
    topicName: eventsTopicName
    appPrincipalId: identity.outputs.appPrincipalId
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    location: location
    tags: allTags
    appName: 'func-kr-${resourceToken}'
    planName: 'plan-kr-${resourceToken}'
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appClientId
    hostStorageName: hostStorage.outputs.accountName
    deploymentContainerUrl: hostStorage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    taskHubName: taskHubName(environmentName)
    tablesUrl: ledgerStorage.outputs.tableEndpoint
    tables: tables
    vaultUrls: join(map(managedVaults, v => 'https://${v.name}${environment().suffixes.keyvaultDns}'), ',')
    sealKeyId: ledgerVault.outputs.sealKeyUri
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    eventsTopicName: serviceBus.outputs.topicName
    timerSchedule: timerSchedule
    vaultBudgetFraction: vaultBudgetFraction
    rewrapBatchSize: rewrapBatchSize
    branchSigningKeyId: branchSigningKeyId
    flatDeksRequireSignature: flatDeksRequireSignature
    branchKeysPerKek: branchKeysPerKek
    hierarchySliceSeconds: hierarchySliceSeconds
    emergencyApprovalWindow: emergencyApprovalWindow
    ledgerRetention: ledgerRetention
    authClientId: authClientId
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The runtime needs its storage roles before its first start, or the host fails to get a lease:
  // the outputs read above (hostStorage.outputs.*, ledgerStorage.outputs.*) make this module wait
  // for those whole deployments, role assignments included, so no explicit dependsOn is needed.
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: allTags
    appInsightsId: monitoring.outputs.appInsightsId
    workspaceId: monitoring.outputs.workspaceId
    alertEmail: alertEmail
    namePrefix: 'keyrotor-${environmentName}'
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: allTags
    appInsightsId: monitoring.outputs.appInsightsId
    workspaceId: monitoring.outputs.workspaceId
    displayName: 'keyrotor (${environmentName})'
  }
}

// ---- Outputs: azd stores them in the environment (azd env get-values); the CLI, the hooks and
// docs/deploy.md use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output KEYROTOR_FUNCTION_APP_NAME string = functionApp.outputs.appName
@description('Base URL of the HTTP API (the CLI\'s --url / KEYROTOR_API_URL).')
output KEYROTOR_API_URL string = 'https://${functionApp.outputs.defaultHostName}'
@description('Scope the CLI requests a token for (az account get-access-token --scope ...).')
output KEYROTOR_API_SCOPE string = 'api://${authClientId}/.default'
output KEYROTOR_IDENTITY_CLIENT_ID string = identity.outputs.appClientId
output KEYROTOR_IDENTITY_PRINCIPAL_ID string = identity.outputs.appPrincipalId
output KEYROTOR_EVENTGRID_IDENTITY_ID string = identity.outputs.eventGridIdentityId
output KEYROTOR_VAULT_URLS string = join(map(managedVaults, v => 'https://${v.name}${environment().suffixes.keyvaultDns}'), ',')
output KEYROTOR_MANAGED_VAULTS string = string(managedVaults)
// System topic names are deterministic (vaultAccess names them), so no module output is needed here.
output KEYROTOR_SYSTEM_TOPICS string = string(map(managedVaults, v => { name: 'evgt-${v.name}', resourceGroup: v.resourceGroup, vaultName: v.name }))
output KEYROTOR_DEADLETTER_STORAGE_ID string = hostStorage.outputs.accountId
output KEYROTOR_DEADLETTER_CONTAINER string = hostStorage.outputs.deadLetterContainerName
output KEYROTOR_TABLES_URL string = ledgerStorage.outputs.tableEndpoint
output KEYROTOR_SEAL_KEY_ID string = ledgerVault.outputs.sealKeyUri
// Names the preprovision hook looks for among soft-deleted vaults before the next provision, and
// the teardown steps of docs/deploy.md use ('' when no vault is created).
output KEYROTOR_KEYVAULT_NAME string = empty(existingVaults) ? 'kv-kr-${resourceToken}' : ''
output KEYROTOR_LEDGER_VAULT_NAME string = 'kv-krl-${resourceToken}'
output KEYROTOR_LEDGER_ACCOUNT_NAME string = ledgerStorage.outputs.accountName
output KEYROTOR_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output KEYROTOR_EVENTS_TOPIC string = serviceBus.outputs.topicName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output KEYROTOR_WORKBOOK_ID string = workbook.outputs.workbookId
