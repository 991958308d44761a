// The evidence pack's shapes, apart from the code that builds (./evidence), checks (./controls),
// signs (./evidenceSeal) and renders (./evidenceFormat) it: each of those reads these types, and
// none of them needs another's code for it.
import type { LedgerSeal, LedgerVerification, VerifiableLedger } from "../ports";
import type { RotationTrigger } from "../domain/keys";

export type Framework = "PCI DSS" | "SOC 2" | "HIPAA" | "NIST SP 800-57";

export interface UnknownTag {
  tag: string;
  policyIds: string[];
}

export interface ControlEvidence {
  framework: Framework;
  control: string;
  requirement: string;
  evidence: string;
  /** Tags (as written in the policies) that brought this control in. */
  tags: string[];
  keys: number;
  /** met: every tagged key is within its cryptoperiod and the ledger verifies. */
  status: "met" | "exceptions";
  exceptions: string[];
}

export interface ManifestSignature {
  kid: string;
  alg: string;
  /** base64url signature over sha256(canonicalJson(manifest without signature)). */
  value: string;
}

// ---- inputs (deliberately minimal: callers map their policy and inventory records onto these) ----

export interface EvidencePolicy {
  policyId: string;
  /** ISO-8601 duration between rotations, e.g. P90D, P3M, P1Y. */
  interval?: string;
  /** For schedules without a fixed interval (cron): when the next rotation is due after one at `last`. */
  dueAfter?: (last: Date) => Date;
  complianceTags?: string[];
  name?: string;
}

export interface EvidenceKey {
  keyId: string;
  policyId?: string;
  /** When the key came under management: the baseline while it has never been rotated. */
  createdAt?: string;
  tenant?: string;
}

export interface EvidencePeriod {
  /** Inclusive ISO instant. */
  from: string;
  /** Exclusive ISO instant. */
  to: string;
  /** e.g. "2026-Q1". */
  label?: string;
}

export interface EvidenceInput {
  ledger: Pick<VerifiableLedger, "entries" | "seals" | "verify"> & { chainIds?(): AsyncIterable<string> };
  period: EvidencePeriod;
  policies: EvidencePolicy[];
  keys: EvidenceKey[];
  /** Generation time; compliance is judged as of min(period.to, now). Default: the current time. */
  now?: Date;
  /** The configured retention (KEYROTOR_LEDGER_RETENTION), stated in the pack. */
  retention?: string;
}

// ---- outputs ----------------------------------------------------------------------------------

export type RotationOutcome = "completed" | "failed" | "aborted" | "rolledBack" | "inProgress";

/** rotation: a new version became primary. rollback: an older version was re-promoted (it restarts
 * no cryptoperiod). retirement: old versions were retired (no change of primary). */
export type RotationKind = "rotation" | "rollback" | "retirement";

/** Who acted: the display name the ledger recorded and, for entries written since the approvals
 * code records it, the principal's stable object id. */
export interface Approval { by: string; byId?: string; at: string }

export interface RotationRecord {
  keyId: string;
  rotationId: string;
  trigger?: RotationTrigger;
  requestedAt: string;
  /** Who asked: the principal, or system:timer / system:eventgrid. */
  requestedBy: string;
  /** The requester's principal id (details.actorId), when the ledger recorded one. */
  requestedById?: string;
  reason?: string;
  approvals: Approval[];
  endedAt?: string;
  outcome: RotationOutcome;
  kind: RotationKind;
  /** For a rollback: the rotation it rolled back. */
  rollbackOf?: string;
  /** For a rotation later rolled back: the rollback that undid it (its version no longer counts). */
  rolledBackBy?: string;
  versionBefore?: string;
  versionAfter?: string;
  revokedVersions: string[];
  error?: { code: string; message: string; at: string };
  /** Ledger sequence numbers of the rotation's entries. */
  seqs: { first: number; last: number; count: number };
  /** The validation gates the rotation ran on its new version (Validation entries), in order. */
  validations?: ValidationRecord[];
}

/** One validation gate's verdict, from its Validation ledger entry (lib/domain/validation.ts). */
export interface ValidationRecord {
  at: string;
  gate: string;
  /** beforePromotion | afterWork */
  stage?: string;
  /** What was checked, in words. */
  check?: string;
  version?: string;
  outcome: "passed" | "failed";
  checked?: number;
  failed?: number;
  reason?: string;
}

export type ComplianceStatus = "compliant" | "overdue" | "noBaseline" | "noPolicy" | "noSchedule";

export interface KeyCompliance {
  keyId: string;
  policyId?: string;
  complianceTags: string[];
  status: ComplianceStatus;
  interval?: string;
  lastRotatedAt?: string;
  lastRotationId?: string;
  dueAt?: string;
  /** Whole days past dueAt as of asOf (0 when compliant). */
  daysOverdue: number;
  /** Rotations in the period that completed after they were due. */
  lateInPeriod: { rotationId: string; completedAt: string; dueAt: string; daysLate: number }[];
  rotationsInPeriod: number;
}

/** A late or missed rotation: each one is an exception, whatever the policy's tags. */
export interface CryptoperiodException {
  keyId: string;
  policyId?: string;
  /** late: rotated after it was due; missed: due and not rotated as of asOf. */
  kind: "late" | "missed";
  dueAt: string;
  days: number;
  rotationId?: string;
  completedAt?: string;
}

export interface EmergencyRecord {
  keyId: string;
  rotationId: string;
  requestedBy: string;
  requestedById?: string;
  requestedAt: string;
  reason?: string;
  approvals: Approval[];
  minutesToApproval?: number;
  outcome: RotationOutcome;
  revokedVersions: string[];
  /** Problems an assessor should see: missing or self approval. */
  exceptions: ("notApproved" | "selfApproved")[];
  /** How selfApproved was judged: by principal ids, or (entries written before ids were recorded)
   * by display names only, which two people can share and one person can change. */
  identity: "principalId" | "displayName";
}

export type FailureResolution = "recoveredOnRetry" | "rolledBack" | "aborted" | "supersededByLaterRotation" | "unresolved";

export interface FailureRecord {
  keyId: string;
  rotationId: string;
  trigger?: RotationTrigger;
  failedAt: string;
  error: { code: string; message: string };
  resolution: FailureResolution;
  /** The rotation that fixed things, and when (recovery, rollback or a later successful rotation). */
  resolvedBy?: { rotationId: string; at: string };
}

export interface EvidenceSummary {
  keys: number;
  keysWithPolicy: number;
  compliant: number;
  overdue: number;
  /** Late plus missed rotations (the exceptions list). */
  cryptoperiodExceptions: number;
  rotations: number;
  rollbacks: number;
  byTrigger: Partial<Record<RotationTrigger | "unknown", number>>;
  byOutcome: Partial<Record<RotationOutcome, number>>;
  emergencies: number;
  failures: number;
  unresolvedFailures: number;
}

export interface EvidencePack {
  format: "keyrotor-evidence/1";
  period: EvidencePeriod;
  generatedAt: string;
  asOf: string;
  retention?: string;
  summary: EvidenceSummary;
  compliance: KeyCompliance[];
  exceptions: CryptoperiodException[];
  rotations: RotationRecord[];
  emergencies: EmergencyRecord[];
  failures: FailureRecord[];
  keysWithoutPolicy: string[];
  /** Chains in the ledger for keys the inventory does not list (deleted or never inventoried). */
  keysNotInInventory: string[];
  controls: ControlEvidence[];
  /** complianceTags that map to no known control, with the policies carrying them. */
  unknownTags: UnknownTag[];
  verification: LedgerVerification;
  /** Seals made in the period, and the latest seal if it is later. */
  seals: LedgerSeal[];
  /** The seal key's signature of the pack's manifest (made by the API, which holds the seal key);
   * not part of the pack's files: it signs them. */
  manifestSignature?: ManifestSignature;
}
