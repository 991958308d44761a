// The ports the rotation engine talks through. Each has a memory adapter (tests, domain-level
// reasoning) and a real one (Table Storage, Key Vault, Service Bus); one contract suite per port
// runs against both.
import type { KeyKind, RotationPhase, RotationTrigger, VersionState } from "./domain/keys";

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

// ---- Ledger -------------------------------------------------------------------------------------

export const LEDGER_ENTRY_TYPES = [
  "RotationRequested", "EmergencyRequested", "Approved", "LockAcquired", "LockReleased", "LockBroken",
  "VersionCreated", "Promoted", "RewrapProgress", "RewrapCompleted", "Retired", "Revoked", "RolledBack",
  "Completed", "Failed", "Aborted", "PolicyChanged", "ExpiryWarning", "NotificationFailed",
  "UnmanagedVersionDetected", "EventRejected", "KeyRegistered",
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
