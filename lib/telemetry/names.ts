// The names keyrotor's telemetry carries into Application Insights. infra/ (alert rules, workbook)
// queries these exact strings; a test holds the KQL to this file, so rename here and there together.

/** Metric instrument names (Application Insights customMetrics.name). */
export const METRIC_NAMES = {
  /** Counter, by kind and trigger. */
  rotationsStarted: "keyrotor.rotations.started",
  rotationsCompleted: "keyrotor.rotations.completed",
  rotationsFailed: "keyrotor.rotations.failed",
  /** Histogram, seconds from start to a terminal phase, by kind, trigger and outcome. */
  rotationDuration: "keyrotor.rotation.duration",
  /** Counter of DEKs rewrapped, by kind. */
  rewrappedDeks: "keyrotor.rewrap.deks",
  /** Histogram of each rewrap batch's throughput in DEKs per second, by kind. */
  rewrapRate: "keyrotor.rewrap.rate",
  /** Counter of 429 answers from Key Vault, by vault and operation. */
  keyVaultThrottled: "keyrotor.keyvault.throttled",
  /** Counter of events that could not be published after retries (NotificationFailed), by event type. */
  notificationsFailed: "keyrotor.notifications.failed",
  /** Observable gauge: number of managed keys past their due time. */
  keysOverdue: "keyrotor.keys.overdue",
  /** Observable gauge per key (keyId, kind, rotationDue): days until the primary version expires. */
  daysToExpiry: "keyrotor.key.days_to_expiry",
  /** Observable gauge: 1 when the last ledger verification passed, 0 when it found a break. */
  ledgerVerified: "keyrotor.ledger.verified",
  /** Observable gauge per key (keyId, kind): seconds since the oldest secondary version (enabled,
   * not yet proven unreferenced and retired) was superseded. An age, not a count of use: how much
   * an old version is still used is keyrotor.envelope.operations (consumers) and Key Vault's own
   * diagnostic logs (infra/). 0 when no secondary is left. */
  secondaryVersionAge: "keyrotor.key.secondary_version_age",
  /** Counter: lib/envelope encrypts and decrypts, by operation, tenant, dekVersion and the wrapping
   * key's version (keyId + kekVersion, or branchKeyVersion under the key hierarchy). */
  envelopeOperations: "keyrotor.envelope.operations",
  /** Counter: encrypts under a DEK version that is not the tenant's primary (tenant, dekVersion). */
  envelopeNonPrimaryEncrypts: "keyrotor.envelope.non_primary_encrypts",
  /** Observable gauge per key (keyId): seconds a lock has been held past its lease. */
  lockPastLease: "keyrotor.lock.past_lease",
} as const;
export type MetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];

/** Attribute keys on metrics (Application Insights customDimensions). Never a rotationId: that
 * would make every rotation its own time series. */
export const METRIC_ATTRIBUTES = {
  kind: "kind",
  trigger: "trigger",
  outcome: "outcome",
  keyId: "keyId",
  vault: "vault",
  operation: "operation",
  eventType: "eventType",
  /** "true" when the planner has a rotation due for the key. */
  rotationDue: "rotationDue",
  errorCode: "errorCode",
  /** Envelope usage: the tenant, its DEK version and the version of the key wrapping that DEK. */
  tenant: "tenant",
  dekVersion: "dekVersion",
  kekVersion: "kekVersion",
  branchKeyVersion: "branchKeyVersion",
} as const;

/** Attribute keys on spans. */
export const SPAN_ATTRIBUTES = {
  rotationId: "keyrotor.rotationId",
  keyId: "keyrotor.keyId",
  kind: "keyrotor.kind",
  phase: "keyrotor.phase",
} as const;

/** Fields every structured log line carries (JSON in the trace message; KQL parses it). */
export const LOG_FIELDS = ["msg", "level", "component", "phase", "rotationId", "keyId", "keyState", "kind", "event", "rewrapped", "total", "errorCode"] as const;
export type LogFieldName = (typeof LOG_FIELDS)[number];
