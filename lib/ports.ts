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
  "UnmanagedVersionDetected", "EventRejected",
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
