// Scheduled-query alert rules over Application Insights (and one over the Log Analytics workspace
// that holds Key Vault's diagnostic logs). Every metric name and dimension below is
// one lib/telemetry emits (lib/telemetry/names.ts); test/unit/infra holds the KQL to that file.
// Counters arrive as deltas per export interval (the Azure Monitor exporter's temporality), so
// sum(valueSum) over the window is the count in the window; gauges arrive as `value`.
param location string
param tags object
param appInsightsId string
@description('Log Analytics workspace that receives the Key Vault diagnostic logs (keyVault.bicep).')
param workspaceId string
param alertEmail string
param namePrefix string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-oncall'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'keyrotor'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      { name: 'oncall', emailAddress: alertEmail, useCommonAlertSchema: true }
    ]
  }
}

var rules = [
  {
    name: 'rotation-failed'
    displayName: 'keyrotor: a rotation failed'
    description: 'A rotation ended in phase failed. The RotationFailed event on the topic says whether encryption is impacted and what to do; the ledger has the error.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT15M'
    dimensions: [ 'kind', 'trigger', 'errorCode' ]
    query: '''
customMetrics
| where name == "keyrotor.rotations.failed"
| extend kind = tostring(customDimensions.kind), trigger = tostring(customDimensions.trigger), errorCode = tostring(customDimensions.errorCode)
| summarize failures = sum(valueSum) by kind, trigger, errorCode
| where failures > 0
'''
  }
  {
    name: 'key-overdue'
    displayName: 'keyrotor: a key is overdue for rotation'
    description: 'At least one managed key is past its due time and has not rotated (suspended policy, a freeze, a failing rotation or a stuck lock).'
    severity: 2
    frequency: 'PT15M'
    window: 'PT30M'
    dimensions: []
    query: '''
customMetrics
| where name == "keyrotor.keys.overdue"
| summarize overdue = max(value)
| where overdue > 0
'''
  }
  {
    name: 'expiry-without-rotation'
    displayName: 'keyrotor: a key expires within 7 days and no rotation is due'
    description: 'The primary version expires within 7 days but the planner has no rotation due: the policy (rotateBefore, schedule, freeze) will let it expire. Rotate by hand or fix the policy.'
    severity: 1
    frequency: 'PT1H'
    window: 'PT2H'
    dimensions: [ 'keyId', 'kind' ]
    query: '''
customMetrics
| where name == "keyrotor.key.days_to_expiry"
| extend keyId = tostring(customDimensions.keyId), kind = tostring(customDimensions.kind), rotationDue = tostring(customDimensions.rotationDue)
| summarize arg_max(timestamp, value, rotationDue) by keyId, kind
| where value < 7 and rotationDue == "false"
'''
  }
  {
    name: 'ledger-not-verified'
    displayName: 'keyrotor: the rotation ledger does not verify'
    description: 'The last ledger verification found a broken hash chain or seal: treat as possible tampering. Export evidence (keyrotor evidence) before anything else.'
    severity: 0
    frequency: 'PT15M'
    window: 'PT1H'
    dimensions: []
    query: '''
customMetrics
| where name == "keyrotor.ledger.verified"
| summarize verified = min(value)
| where verified < 1
'''
  }
  {
    name: 'notifications-failing'
    displayName: 'keyrotor: rotation events are not being published'
    description: 'Publishing to Service Bus failed after retries (NotificationFailed in the ledger; /api/health shows it). Consumers and on-call are not being told about rotations.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    dimensions: [ 'eventType' ]
    query: '''
customMetrics
| where name == "keyrotor.notifications.failed"
| extend eventType = tostring(customDimensions.eventType)
| summarize failures = sum(valueSum) by eventType
| where failures > 0
'''
  }
  {
    name: 'lock-past-lease'
    displayName: 'keyrotor: a key lock is held past its lease'
    description: 'A rotation lock outlived its lease: its orchestration is probably dead. The next rotation takes the lock over; breaking it by hand is audited (LockBroken).'
    severity: 2
    frequency: 'PT15M'
    window: 'PT30M'
    dimensions: [ 'keyId' ]
    query: '''
customMetrics
| where name == "keyrotor.lock.past_lease"
| extend keyId = tostring(customDimensions.keyId)
| summarize secondsPastLease = max(value) by keyId
| where secondsPastLease > 0
'''
  }
  {
    name: 'envelope-non-primary-encrypt'
    displayName: 'keyrotor: a consumer encrypts under a DEK version that is not primary'
    description: 'A service using lib/envelope encrypted under a DEK version that is no longer its tenant primary (a primary cached past a rotation). New data is written under an old version: fix the consumer cache (primaryTtlMs) before that version retires.'
    severity: 2
    frequency: 'PT15M'
    window: 'PT30M'
    dimensions: [ 'tenant', 'dekVersion' ]
    query: '''
customMetrics
| where name == "keyrotor.envelope.non_primary_encrypts"
| extend tenant = tostring(customDimensions.tenant), dekVersion = tostring(customDimensions.dekVersion)
| summarize encrypts = sum(valueSum) by tenant, dekVersion
| where encrypts > 0
'''
  }
  {
    // Key Vault's own record, for every consumer (with or without lib/envelope): operations per
    // key or secret version from the vault's diagnostic logs, in either table the diagnostic
    // setting writes (AzureDiagnostics, or AZKVAuditLogs in resource-specific mode). test/unit/infra
    // holds the columns to Microsoft's table reference (test/fixtures/keyVaultLogs/schema.json).
    name: 'keyvault-old-version-use'
    displayName: 'keyrotor: an old key version is still used and its use is not falling'
    description: 'Key Vault logged operations on a version older than the newest in use, and the last day had at least as many as the day before: a consumer has not moved to the new version. Find it by caller (CallerIpAddress, identity) in the vault logs before that version retires.'
    severity: 3
    frequency: 'PT1H'
    window: 'P2D'
    scope: 'workspace'
    dimensions: [ 'vault', 'objectName', 'version' ]
    query: '''
let recent = 1d;
let ops = union isfuzzy=true
(AzureDiagnostics
| where TimeGenerated > ago(2d) and ResourceProvider == "MICROSOFT.KEYVAULT" and Category == "AuditEvent"
| project TimeGenerated, vault = toupper(Resource), operation = OperationName, objectUri = id_s),
(AZKVAuditLogs
| where TimeGenerated > ago(2d)
| project TimeGenerated, vault = toupper(tostring(split(_ResourceId, "/")[8])), operation = OperationName, objectUri = Id)
| where operation in ("KeyUnwrap", "KeyDecrypt", "KeySign", "KeyWrap", "KeyEncrypt", "SecretGet")
| extend parts = split(objectUri, "/")
| extend objectName = tostring(parts[4]), version = tostring(parts[5])
| where isnotempty(version);
let newest = ops
| summarize firstSeen = min(TimeGenerated) by vault, objectName, version
| summarize arg_max(firstSeen, version) by vault, objectName
| project vault, objectName, newestVersion = version;
ops
| join kind=inner newest on vault, objectName
| where version != newestVersion
| summarize lastDay = countif(TimeGenerated > ago(recent)), dayBefore = countif(TimeGenerated <= ago(recent)) by vault, objectName, version
| where lastDay > 0 and lastDay >= dayBefore
'''
  }
]

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for r in rules: {
  name: '${namePrefix}-${r.name}'
  location: location
  tags: tags
  properties: {
    displayName: r.displayName
    description: r.description
    severity: r.severity
    enabled: true
    evaluationFrequency: r.frequency
    windowSize: r.window
    scopes: [ contains(r, 'scope') ? workspaceId : appInsightsId ]
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: r.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: map(r.dimensions, d => { name: d, operator: 'Include', values: [ '*' ] })
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actionGroup.id ] }
  }
}]

output actionGroupId string = actionGroup.id
