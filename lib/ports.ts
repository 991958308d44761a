// Every port keyrotor talks to a resource through, in one place: one port per resource (Key Vault,
// inventory, DEKs, policies, JWKS, approvals, fences, ledger, events, clock), one shape per concept.
// Each has a memory adapter (tests, the local host) and a real one (Table Storage, Key Vault,
// Service Bus); one contract suite per port (test/contract) runs against both, and
// test/contract/everyPort.test.ts fails when a port in PORTS has no suite run against both.
import type { EmergencyRequest } from "./domain/approval";
import type { KeyKind, ManagedKey, RotationPhase, RotationTrigger, VersionState } from "./domain/keys";
import type { Policy } from "./domain/policy";
import type { FenceRecord } from "./domain/rotation";
import type { DekRecord, DekWrap, StoredDek } from "./envelope/dekRecord";

/** The ports, by the name their contract suite is filed under (test/contract/<port>.contract.test.ts). */
export const PORTS = ["keyVault", "inventory", "deks", "policies", "jwks", "approvals", "fences", "ledger", "events", "clock"] as const;
export type PortName = (typeof PORTS)[number];

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** The memory clock: time moves only when told, never backwards; each now() is a fresh Date. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
}
export function manualClock(start: Date | string): ManualClock {
  let at = new Date(start).getTime();
  return {
    now: () => new Date(at),
    advance(ms: number) {
      if (!(ms >= 0)) throw new RangeError(`[keyrotor] [clock] a clock never moves back (advance ${ms} ms)`);
      at += ms;
    },
  };
}

// ---- Ledger -------------------------------------------------------------------------------------

export const LEDGER_ENTRY_TYPES = [
  "RotationRequested", "EmergencyRequested", "Approved", "LockAcquired", "LockReleased", "LockBroken",
  "VersionCreated", "Promoted", "RewrapProgress", "RewrapCompleted", "Retired", "Revoked", "RolledBack",
  "Completed", "Failed", "Aborted", "PolicyChanged", "ExpiryWarning", "NotificationFailed",
  "UnmanagedVersionDetected", "EventRejected", "KeyRegistered",
  // A validation gate's verdict on a new version (lib/validation): what was checked, the outcome.
  "Validation",
] as const;
export type LedgerEntryType = (typeof LEDGER_ENTRY_TYPES)[number];

/** What a writer supplies; the ledger adds seq, at (if absent), prevHash and hash. */
export interface LedgerAppend {
  keyId: string;
  /** Idempotency key: appending an entryId already in the chain returns the existing entry. */
  entryId: string;
  type: LedgerEntryType;
  rotationId?: string;
  trigger?: RotationTrigger;
  /** Principal name, or system:timer, system:eventgrid, system:orchestrator. */
  actor: string;
  reason?: string;
  versionBefore?: string;
  versionAfter?: string;
  counts?: Record<string, number>;
  error?: { code: string; message: string };
  /** Free-form, small, never key material. */
  details?: Record<string, string | number | boolean>;
  /** ISO instant; orchestrations pass their deterministic time. */
  at?: string;
}

export interface LedgerEntry extends LedgerAppend {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface Ledger {
  append(entry: LedgerAppend): Promise<LedgerEntry>;
  /** Entries of one chain in order (paged internally). */
  entries(keyId: string): AsyncIterable<LedgerEntry>;
}

/** The head of one chain as a seal records it. */
export interface SealHead {
  keyId: string;
  seq: number;
  hash: string;
}

/** A signed record of the heads of all chains at one moment: cutting a chain's tail or deleting a
 * chain after it is detected. Seals form their own hash chain (prevHash/hash, sealSeq). */
export interface LedgerSeal {
  sealSeq: number;
  at: string;
  /** Number of chains sealed (= heads.length). */
  chains: number;
  /** SHA-256 hex over the canonical encoding of the heads sorted by keyId. */
  root: string;
  heads: SealHead[];
  prevHash: string;
  /** SHA-256 hex of the canonical seal payload; the signature is over these 32 bytes. */
  hash: string;
  /** Identifier of the signing key (Key Vault: the versioned key URL). */
  kid: string;
  alg: string;
  /** base64url */
  signature: string;
  reason?: string;
  rotationId?: string;
}

export const LEDGER_PROBLEMS = [
  "hashMismatch", "gap", "reordered", "truncatedAfterSeal", "chainMissing", "badSealSignature",
  // A head row that does not name the chain's last entry; a row that is no entry, head or index row;
  // an index row naming no entry or another entry (or an entry without one); a chain missing from
  // the registry (it would never be sealed again). docs/ledger.md lists what each one catches.
  "headMismatch", "strayRow", "indexMismatch", "unregistered",
] as const;
export type LedgerProblem = (typeof LEDGER_PROBLEMS)[number];

/** Where verification found the ledger broken. Breaks in the seal chain use keyId = SEAL_CHAIN_ID
 * and seq = the seal's sealSeq. */
export interface LedgerBreak {
  keyId: string;
  seq: number;
  problem: LedgerProblem;
  detail?: string;
}
export const SEAL_CHAIN_ID = "(seals)";

export interface LedgerVerification {
  ok: boolean;
  chains: number;
  entries: number;
  seals: number;
  firstBreak?: LedgerBreak;
  /** Every break found, in order (capped), for the operator who repairs or investigates. */
  breaks?: LedgerBreak[];
  verifiedAt: string;
  latestSeal?: { sealSeq: number; at: string; root: string; kid: string };
}

export interface VerifyProgress {
  phase: "seals" | "entries" | "done";
  seals: number;
  chains: number;
  entries: number;
  /** Entries the latest seal accounts for: a lower bound for a progress bar's total. */
  expectedEntries?: number;
}

/** The ledger with its seals and its self-check (what the orchestrations, the API and the CLI use). */
export interface VerifiableLedger extends Ledger {
  /** Records and signs the heads of all chains (periodically, and at the end of every rotation). */
  seal(opts?: { reason?: string; rotationId?: string; at?: string }): Promise<LedgerSeal>;
  /** Seals in order, optionally only those with `at` in [from, to). */
  seals(range?: { from?: string; to?: string }): AsyncIterable<LedgerSeal>;
  /** Walks all chains and seals page by page. */
  /** `page`: verify from one chain on and stop between chains when `stop()` says so (lib/ledger/verify.ts
   * VerifyPage); `continuation` then names the first chain left. */
  verify(opts?: { onProgress?: (p: VerifyProgress) => void; page?: { from?: string | undefined; stop: () => boolean } }): Promise<LedgerVerification & { continuation?: string }>;
}

// ---- Events -------------------------------------------------------------------------------------

export const ROTATION_EVENT_TYPES = [
  "RotationStarted", "VersionCreated", "Promoted", "RewrapProgress", "RotationCompleted", "RotationFailed",
  "Retired", "Revoked", "RolledBack", "ExpiryWarning", "EmergencyRequested", "EmergencyApproved",
  "LockBroken", "UnmanagedVersionDetected", "CertificateExpiring",
] as const;
export type RotationEventType = (typeof ROTATION_EVENT_TYPES)[number];

export type Severity = "info" | "warning" | "critical";

/** What a responder needs to know, on every event (an alert that only says "failed" is not enough). */
export interface ResponderGuidance {
  encryptionImpacted: boolean;
  decryptionValid: boolean;
  customerActionRequired: boolean;
  manualInterventionSafe: boolean;
  recommendedAction: string;
}

export interface RotationEvent {
  type: RotationEventType;
  keyId: string;
  tenant: string;
  kind: KeyKind;
  rotationId?: string;
  phase?: RotationPhase;
  severity: Severity;
  /** Deterministic per (rotationId, type, seq) so duplicate detection drops replays. */
  messageId: string;
  keyState: { primaryVersion?: string; versions?: { version: string; state: VersionState }[] };
  guidance: ResponderGuidance;
  at: string;
  details?: Record<string, string | number | boolean>;
}

export interface EventPublisher {
  publish(event: RotationEvent): Promise<void>;
}

// ---- Key Vault ----------------------------------------------------------------------------------

/** One version of a key or secret as the vault lists it. */
export interface VaultVersion {
  version: string;
  enabled: boolean;
  /** ISO instants. */
  createdOn: string;
  expiresOn?: string;
  tags: Record<string, string>;
  /** Keys only: permitted operations (wrapKey, unwrapKey, sign, verify, ...). */
  keyOps?: string[];
}

/** Public JWK as Key Vault returns it (kid = versioned key URL; never private members). */
export interface PublicJwk {
  kid: string;
  kty: string;
  [member: string]: unknown;
}

/** Key Vault keys and secrets, addressed by vault name (lib/orchestration/memory.ts MemoryKeyVault;
 * lib/orchestration/deps.ts KeyVaultRotationAdapter over lib/vault). */
export interface KeyVaultPort {
  /** Creates a new key version tagged `rotationId`; when a version already carries the tag,
   * returns it instead (reused), however many versions were created since. */
  createKeyVersion(vault: string, name: string, opts: { rotationId: string; expiresOn?: string; purpose: "wrap" | "sign" }): Promise<{ version: string; reused: boolean }>;
  listKeyVersions(vault: string, name: string): Promise<VaultVersion[]>;
  updateKeyVersion(vault: string, name: string, version: string, patch: { enabled?: boolean; keyOps?: string[] }): Promise<void>;
  /** Local RSA-OAEP-256 wrap with the version's cached public key. */
  wrapKey(vault: string, name: string, version: string, plaintext: Buffer): Promise<Buffer>;
  /** Remote unwrap (the private key never leaves the vault). */
  unwrapKey(vault: string, name: string, version: string, wrapped: Buffer): Promise<Buffer>;
  publicJwk(vault: string, name: string, version: string): Promise<PublicJwk>;
  /** New secret version tagged `rotationId` (and `slot` for dual-credential providers); reused when a version already carries the tag. */
  setSecret(vault: string, name: string, value: string, opts: { rotationId: string; expiresOn?: string; slot?: string }): Promise<{ version: string; reused: boolean }>;
  listSecretVersions(vault: string, name: string): Promise<VaultVersion[]>;
  updateSecretVersion(vault: string, name: string, version: string, patch: { enabled: boolean }): Promise<void>;
}

/** The reads of the vault the API and the Event Grid trigger make. */
export type VaultReader = Pick<KeyVaultPort, "listKeyVersions" | "listSecretVersions" | "publicJwk">;

// ---- Inventory ----------------------------------------------------------------------------------

export interface StoredKey {
  key: ManagedKey;
  etag: string;
}

/** The managed keys (lib/stores/inventory.ts Inventory; MemoryInventory). keyIds are read in any
 * spelling and stored canonical; one vault object is one managed key; a policy attached must be the
 * key's own tenant's and cover its kind; a replacement must be a state the version rule book reaches. */
export interface InventoryPort {
  get(keyId: string): Promise<StoredKey | undefined>;
  /** Every key (optionally one tenant's), in keyId order. */
  list(opts?: { tenant?: string }): AsyncIterable<StoredKey>;
  /** Creates a new entry (exists → RotationConflictError). */
  create(key: ManagedKey): Promise<StoredKey>;
  /** Creates when etag is undefined (exists → RotationConflictError), else replaces If-Match
   * (changed → RotationConflictError). Returns the new etag. */
  put(key: ManagedKey, etag: string | undefined): Promise<string>;
}

// ---- DEKs ---------------------------------------------------------------------------------------

/** Called right before a DEK becomes primary with the KEK version it is wrapped under; throws to
 * refuse it (no longer the KEK's primary, disabled, revoked): nothing is promoted then. */
export type KekVersionGuard = (wrap: { kekKeyId: string; kekVersion: string }) => Promise<void>;

export interface DekRewrapCounts {
  /** Written under the target by this call. */
  rewrapped: number;
  /** Already under the target (an earlier attempt or a concurrent writer). */
  skipped: number;
  /** Conditional writes refused because a DEK changed meanwhile. */
  conflicts: number;
  /** Deleted meanwhile. */
  missing: number;
  /** DEKs left unwritten because they changed since read and were not recomputed here: read their
   * page again. Always 0 on a store that `resolvesConflicts`. */
  changed: number;
}

/** The DEK table: one record shape (lib/envelope/dekRecord.ts, as stored), used by the rotation
 * engine (DEK rotation and rollback, reference counts) and the KEK rewrap (ranged scans, If-Match
 * writes) alike. */
export interface DekPort {
  /** Declared capability: rewrapBatch re-reads a DEK that changed since it was read and calls
   * `recompute` for it, so a caller may move on before a write settles. Without it such a DEK is
   * reported as `changed` and the caller reads its page again. */
  readonly resolvesConflicts: boolean;
  /** One page of the tenants index. */
  tenantsPage(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }>;
  /** One page of a tenant's DEKs in dekId order; `continuation` resumes after the last row. With
   * `notUnder`, DEKs already wrapped under that KEK version are left out. */
  scanRange(tenant: string, opts: { continuation?: string; limit: number; notUnder?: DekWrap }): Promise<{ records: StoredDek[]; continuation?: string }>;
  /** Writes `deks` (one tenant's, as read) re-wrapped under `target`, the new bytes by dekId in
   * `wrapped`, with If-Match on the ETag read: a DEK changed meanwhile is never overwritten. */
  rewrapBatch(
    tenant: string, deks: readonly StoredDek[], target: DekWrap, wrapped: ReadonlyMap<string, Uint8Array>,
    recompute?: (dek: StoredDek) => Promise<Uint8Array>,
  ): Promise<DekRewrapCounts>;
  /** DEKs wrapped under each version of `kekKeyId` (pending rotation intents included). */
  countByKekVersion(kekKeyId: string): Promise<Record<string, number>>;
  /** One leg of that count: at most about `maxRows` rows from `continuation` (a checkpoint the
   * orchestrator keeps), so a count of 1M DEKs is several short activities, not one long one. */
  countByKekVersionPage(kekKeyId: string, opts: { continuation?: string; maxRows: number }): Promise<{ byVersion: Record<string, number>; continuation?: string }>;
  /** The tenant's DEKs, each with the rotation that made it. */
  tenantDeks(tenant: string): Promise<StoredDek[]>;
  /** Makes `next` (which names its rotation) the tenant's primary DEK, the current primary
   * secondary, once per rotation. `guard` runs right before the promotion. */
  rotatePrimary(next: DekRecord & { rotationId: string }, guard?: KekVersionGuard): Promise<void>;
  /** Rollback: the secondary DEK `dekVersion` becomes the tenant's primary again and the current
   * primary secondary, in one write that moves the primary consumers resolve. Idempotent; a
   * retired, revoked or unknown DEK is refused. `guard` sees the KEK version it is wrapped under. */
  rollbackPrimary(tenant: string, dekVersion: number, guard?: KekVersionGuard): Promise<{ moved: boolean }>;
}

// ---- Policies -----------------------------------------------------------------------------------

export interface StoredPolicy {
  policy: Policy;
  etag: string;
  /** When this row was last written (ISO). */
  updatedAt: string;
}

/** Where a write may land: undefined = create only (exists → RotationConflictError), an etag =
 * replace only that version (changed → RotationConflictError), "*" = create or replace. */
export type ExpectedEtag = string | undefined;

/** Policies as data (lib/stores/policyStore.ts PolicyStore; MemoryPolicyStore). No adapter invents a
 * policy: a key governed by none has none. */
export interface PolicyPort {
  get(tenant: string, policyId: string): Promise<StoredPolicy | undefined>;
  /** A tenant's policies, or with no tenant every tenant's. */
  list(tenant?: string): AsyncIterable<StoredPolicy>;
  /** Every policy (the planner's view). */
  all(): Promise<Policy[]>;
  /** Validates `input` (InvalidRequestError naming the field) and writes it. */
  put(input: unknown, expected: ExpectedEtag): Promise<StoredPolicy>;
  /** Tenants that hold a policy with this id (tells "not yours" from "does not exist"). */
  tenantsWith(policyId: string): Promise<string[]>;
  /** The policy that governs a key: its policyId in its own tenant, applying to its kind; a
   * tenant's DEK without one follows its tenant's active DEK policy. Otherwise none. */
  policyFor(key: ManagedKey): Promise<Policy | undefined>;
}

// ---- JWKS ---------------------------------------------------------------------------------------

export interface JwksDocument {
  keys: PublicJwk[];
}

/** Published JWKS documents of signing keys (lib/stores/jwksStore.ts JwksTable; MemoryJwks). A
 * document with a private JWK member is refused (InvariantViolationError PrivateJwk). */
export interface JwksPort {
  /** Replaces the published document of one signing key. */
  put(vault: string, key: string, jwks: JwksDocument): Promise<void>;
  /** The published document; undefined when none was published. Vault names are case-insensitive. */
  get(vault: string, key: string): Promise<JwksDocument | undefined>;
}

// ---- Approvals ----------------------------------------------------------------------------------

export interface StoredEmergency {
  request: EmergencyRequest;
  etag: string;
}

/** Emergency requests awaiting (or holding) a second person's approval (lib/stores/approvals.ts
 * ApprovalStore; MemoryApprovals). Updates are ETag-guarded so two approvers racing cannot both win. */
export interface ApprovalPort {
  /** A second record for the same rotationId → RotationConflictError. */
  create(req: EmergencyRequest): Promise<StoredEmergency>;
  get(rotationId: string): Promise<StoredEmergency | undefined>;
  /** Replaces the request if unchanged since `etag` was read; otherwise RotationConflictError. */
  update(req: EmergencyRequest, etag: string): Promise<StoredEmergency>;
}

// ---- Fences -------------------------------------------------------------------------------------

/** Each key's latest lock grant (lib/stores/fenceStore.ts TableFenceStore; MemoryFenceStore); the
 * rules that read it are lib/orchestration/fence.ts. */
export interface FenceStore {
  read(keyId: string): Promise<{ record: FenceRecord; etag: string } | undefined>;
  /** Creates (etag undefined; exists → RotationConflictError) or replaces If-Match (changed →
   * RotationConflictError). */
  write(keyId: string, record: FenceRecord, etag: string | undefined): Promise<void>;
}
