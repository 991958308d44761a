// The Function App: Flex Consumption, Node 22 (Node 20 left support on Azure Functions in April
// 2026; package.json engines still admits 20 for local use), one user-assigned identity, App Service
// Authentication (Easy Auth v2) with Entra ID in front of the HTTP API.
param location string
param tags object
param appName string
param planName string
param identityId string
param identityClientId string
param hostStorageName string
param deploymentContainerUrl string
param appInsightsConnectionString string
param taskHubName string
param tablesUrl string
param tables object
param vaultUrls string
param sealKeyId string
param serviceBusNamespace string
param eventsTopicName string
param timerSchedule string
param vaultBudgetFraction string
param rewrapBatchSize string
param branchSigningKeyId string
param flatDeksRequireSignature string
param branchKeysPerKek string
param hierarchySliceSeconds string
param emergencyApprovalWindow string
param ledgerRetention string
param authClientId string
param maximumInstanceCount int
param instanceMemoryMB int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  // azd deploys the code to the resource carrying this tag (azure.yaml service "api").
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: { name: 'node', version: '22' }
    }
  }
}

// Every setting lib/config.ts reads, plus the runtime's own (test/unit/infra holds this list to
// the code). No secret is among them: storage, Service Bus, Key Vault and Application Insights are
// all reached with the identity named by the *__clientId / AZURE_CLIENT_ID settings.
var appSettings = {
  // Functions runtime and the Durable task hub, identity-based (no AzureWebJobsStorage string).
  AzureWebJobsStorage__accountName: hostStorageName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  KEYROTOR_TASK_HUB: taskHubName
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  KEYROTOR_TABLES_URL: tablesUrl
  KEYROTOR_TABLE_POLICIES: tables.policies
  KEYROTOR_TABLE_INVENTORY: tables.inventory
  KEYROTOR_TABLE_DEKS: tables.deks
  KEYROTOR_TABLE_LEDGER: tables.ledger
  KEYROTOR_TABLE_SEALS: tables.seals
  KEYROTOR_TABLE_APPROVALS: tables.approvals
  KEYROTOR_TABLE_JWKS: tables.jwks
  KEYROTOR_TABLE_LOCKS: tables.locks
  KEYROTOR_TABLE_BRANCH_KEYS: tables.branchKeys
  KEYROTOR_TABLE_BRANCH_DEKS: tables.branchDeks
  KEYROTOR_VAULT_URLS: vaultUrls
  // Managed identity (AZURE_CLIENT_ID) through DefaultAzureCredential; local-peer is for dev only.
  KEYROTOR_KEYVAULT_CREDENTIAL: 'default'
  KEYROTOR_SEAL_KEY_ID: sealKeyId
  KEYROTOR_SERVICEBUS_NAMESPACE: serviceBusNamespace
  KEYROTOR_EVENTS_TOPIC: eventsTopicName
  KEYROTOR_TIMER_SCHEDULE: timerSchedule
  KEYROTOR_VAULT_BUDGET_FRACTION: vaultBudgetFraction
  KEYROTOR_REWRAP_BATCH_SIZE: rewrapBatchSize
  // Key hierarchy (docs/key-hierarchy.md); an empty signing key id reads as unset.
  KEYROTOR_BRANCH_SIGNING_KEY_ID: branchSigningKeyId
  // Signed format-1 DEKs (docs/flat-dek-signatures.md): true refuses unsigned legacy rows.
  KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE: flatDeksRequireSignature
  KEYROTOR_BRANCH_KEYS_PER_KEK: branchKeysPerKek
  KEYROTOR_HIERARCHY_SLICE_SECONDS: hierarchySliceSeconds
  KEYROTOR_EMERGENCY_APPROVAL_WINDOW: emergencyApprovalWindow
  KEYROTOR_LEDGER_RETENTION: ledgerRetention
  KEYROTOR_TELEMETRY_CONSOLE: 'false'
  // Secret providers (Storage, Service Bus, Cosmos DB keys) call this cloud's Resource Manager
  // with the managed identity; local-peer and a CA file are for the local ARM peer only.
  KEYROTOR_ARM_ENDPOINT: environment().resourceManager
  KEYROTOR_ARM_CREDENTIAL: 'default'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: appSettings
}

// Easy Auth v2: Entra ID validates bearer tokens for the app registration; the app reads roles
// from x-ms-client-principal, which App Service sets and clients cannot forge behind it.
// No client secret: the API only validates tokens, it never signs users in.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Anonymous by design: health and JWKS are public; Event Grid authenticates with the
      // eventgrid_extension system key in the webhook URL, and cannot present an Entra token.
      excludedPaths: [
        '/api/health'
        '/api/jwks'
        '/api/jwks/*'
        '/api/openapi.json'
        '/runtime/webhooks/eventgrid'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ 'api://${authClientId}', authClientId ]
        }
      }
    }
    login: {
      tokenStore: { enabled: false }
    }
  }
}

output appName string = app.name
output defaultHostName string = app.properties.defaultHostName
