// The Key Vault peer: a local HTTPS stand-in for Azure Key Vault's data plane (keys with real
// node:crypto material, secrets), reached by the real @azure/keyvault-* clients. Development and
// test infrastructure only; it imports nothing of keyrotor.
//
// Authentication: a request without `Authorization: Bearer ...` gets Key Vault's 401 challenge;
// ANY bearer token is accepted after that (the peer does not validate tokens).
import { startPeerServer } from "./server";

export interface KeyVaultThrottleOptions {
  /**
   * Transactions per 10 s by limit class (Key Vault's published per-vault limits are the default):
   * rsa2048, rsa3072, rsa4096, ec, oct, create, other; HSM classes are suffixed "Hsm" (rsa2048Hsm…).
   */
  limits?: Partial<Record<string, number>>;
  /** Multiplies every limit (e.g. 0.1 for quick tests). */
  scale?: number;
  /** Simple override used by benches/tests: every request costs 1 and the vault allows this many per second. */
  ratePerSecond?: number;
}

export interface KeyVaultPeerOptions {
  /** 0 or omitted = a free loopback port. */
  port?: number;
  /** Default "demo-vault". */
  vaultName?: string;
  /** Persist keys/secrets/versions across restarts (npm start); default in-memory. */
  stateFile?: string;
  /** Off by default. */
  throttle?: false | KeyVaultThrottleOptions;
  /** URL to POST Event Grid events to. */
  eventGridWebhook?: string;
  /** How often the peer checks Notify thresholds on its own (default 60 s; 0 = never on its own). */
  notifyCheckIntervalMs?: number;
  /** Page size of list operations when the client sends no maxresults (default 25; Key Vault's is 25). */
  pageSize?: number;
  /** Tenant named in the 401 challenge (default a fixed GUID). */
  tenantId?: string;
}

/** Operation names used by fault injection and stats (Key Vault REST operation names, camelCase). */
export const KEY_VAULT_OPERATIONS = [
  "createKey", "getKey", "getKeys", "getKeyVersions", "updateKey", "rotateKey",
  "getKeyRotationPolicy", "updateKeyRotationPolicy", "deleteKey", "getDeletedKey", "getDeletedKeys",
  "recoverDeletedKey", "purgeDeletedKey", "encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey",
  "setSecret", "getSecret", "getSecrets", "getSecretVersions", "updateSecret", "deleteSecret",
  "getDeletedSecret", "getDeletedSecrets", "recoverDeletedSecret", "purgeDeletedSecret",
] as const;
export type KeyVaultOperation = (typeof KEY_VAULT_OPERATIONS)[number];
/** "*" = every data-plane operation. */
export type OperationSelector = KeyVaultOperation | "*";

export const KEY_VAULT_EVENT_TYPES = [
  "Microsoft.KeyVault.KeyNearExpiry", "Microsoft.KeyVault.KeyExpired", "Microsoft.KeyVault.KeyNewVersionCreated",
  "Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired", "Microsoft.KeyVault.SecretNewVersionCreated",
] as const;
export type KeyVaultEventType = (typeof KEY_VAULT_EVENT_TYPES)[number];

/** Event Grid schema event, as Key Vault delivers it (PascalCase data). */
export interface KeyVaultEventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: KeyVaultEventType;
  eventTime: string;
  data: {
    Id: string;
    VaultName: string;
    ObjectType: "Key" | "Secret";
    ObjectName: string;
    Version: string;
    NBF: number | null;
    EXP: number | null;
  };
  dataVersion: string;
  metadataVersion: string;
}

export interface FaultBody {
  /** error.code of the Key Vault error body (default derived from the status). */
  code?: string;
  message?: string;
  /** Extra response headers, e.g. { "retry-after": "1" }. */
  headers?: Record<string, string>;
}

/** A version that exists but does not work (admin.breakVersion). */
export interface BrokenVersionSpec {
  object: "key" | "secret";
  name: string;
  /** The version to break; omitted = the next version created under `name`. */
  version?: string;
  /** Read operations on that version that misbehave (getKey, encrypt, decrypt, sign, verify,
   * wrapKey, unwrapKey, getSecret). */
  operations: KeyVaultOperation[];
  /** The version works for this many matching calls first (a version that passed a check and broke
   * later); default 0. */
  afterCalls?: number;
  /** "fail" (default): answer `status` (default 400) with a Key Vault error body. "corrupt": answer
   * 200 with wrong bytes (unwrap/decrypt/sign values altered, verify false, a secret value altered). */
  mode?: "fail" | "corrupt";
  status?: number;
  code?: string;
  message?: string;
}

export interface KeyVaultPeerStats {
  /** Authorized data-plane calls per operation (including those answered 429 or by a fault). */
  calls: Partial<Record<KeyVaultOperation, number>>;
  /** Of those, the ones answered 429 by the throttle, per operation (a caller's served calls are
   * calls minus these). */
  throttledCalls: Partial<Record<KeyVaultOperation, number>>;
  total: number;
  unwrapCalls: number;
  wrapCalls: number;
  throttled429: number;
  faultsInjected: number;
  droppedConnections: number;
  challenges401: number;
  eventsDelivered: number;
  eventDeliveryFailures: number;
}

export interface KeyVaultPeerAdmin {
  /** The peer's "now" (real time plus an adjustable offset). */
  now(): Date;
  /** Jump the peer's clock to this instant; it keeps ticking from there. */
  setNow(at: Date | number): void;
  advanceTime(ms: number): void;
  resetTime(): void;

  /** The next `count` calls of `operation` answer `status` with a Key Vault error body. */
  failNext(operation: OperationSelector, count: number, status: number, body?: FaultBody): void;
  /** Every call of `operation` waits `ms` before being handled (0 removes it). */
  setLatency(operation: OperationSelector, ms: number): void;
  /** The next `count` calls of `operation` get their connection destroyed without a response. */
  dropNext(operation: OperationSelector, count: number): void;
  /** A version of a key or secret (or the next one created) that does not work for `operations`. */
  breakVersion(spec: BrokenVersionSpec): void;
  /** Clears failures, drops, latency and broken versions. */
  clearFaults(): void;

  setThrottle(throttle: false | KeyVaultThrottleOptions): void;
  /** Default page size for list operations (tests use a small one to cross pages). */
  setPageSize(size: number): void;

  setEventGridWebhook(url: string | undefined): void;
  /** Deliver one event now for the object (latest version when omitted); resolves after the POST. */
  emitEvent(type: KeyVaultEventType, objectName: string, version?: string): Promise<KeyVaultEventGridEvent>;
  /** Evaluate Notify thresholds and expiries now (what the peer does on its own every interval). */
  checkNotifications(): Promise<KeyVaultEventGridEvent[]>;
  /** Every event the peer has delivered (or tried to), oldest first. */
  deliveredEvents(): readonly KeyVaultEventGridEvent[];

  stats(): KeyVaultPeerStats;
  resetStats(): void;
}

export interface KeyVaultPeer {
  /** https://127.0.0.1:<port> — the vaultUrl for KeyClient/SecretClient. */
  readonly url: string;
  readonly vaultName: string;
  /** PEM to trust via tlsOptions: { ca }. */
  readonly caPem: string;
  /** The same PEM on disk. */
  readonly caFile: string;
  /** In-process access to the admin API (fault injection, throttle, events, stats). */
  readonly admin: KeyVaultPeerAdmin;
  stop(): Promise<void>;
}

export function startKeyVaultPeer(opts: KeyVaultPeerOptions = {}): Promise<KeyVaultPeer> {
  return startPeerServer(opts);
}
