// Validation gates: the rules that decide whether a new version works, before anyone depends on it
// (before promotion) and after the work (after a rewrap, after a JWKS is published). Pure: the
// gates in lib/validation do the I/O and hand the facts here.
//
// A gate never "mostly" passes: one failed probe or sample fails it, and a failed gate stops the
// rotation before anything is disabled (the caller throws validationFailed()).
import { InvariantViolationError } from "./errors";

export const VALIDATION_GATES = [
  "kekRoundTrip", "kekRewrapSample", "dekProbe", "signingProbe", "signingPublished", "secretReadBack",
] as const;
export type ValidationGate = (typeof VALIDATION_GATES)[number];

/** What each gate checks, in words an auditor reads in the ledger and the evidence pack. */
export const GATE_CHECKS: Readonly<Record<ValidationGate, string>> = {
  kekRoundTrip: "a random probe wrapped locally with the cached public key unwraps in the vault under the new version",
  kekRewrapSample: "a sample of DEKs from every tenant partition unwraps under the new version after the rewrap",
  dekProbe: "the new DEK, as stored (wrapped) and resolved by lib/envelope, decrypts a probe it encrypted",
  signingProbe: "a probe signed with the new version in the vault verifies against the JWKS about to be published",
  signingPublished: "the published JWKS verifies tokens of the new and of every retained version",
  secretReadBack: "the new value reads back from the vault (enabled, the policy's shape) and, for provider secrets, authenticates at the provider",
};

/** When each gate runs. */
export const GATE_STAGE: Readonly<Record<ValidationGate, "beforePromotion" | "afterWork">> = {
  kekRoundTrip: "beforePromotion", kekRewrapSample: "afterWork", dekProbe: "beforePromotion",
  signingProbe: "beforePromotion", signingPublished: "afterWork", secretReadBack: "beforePromotion",
};

export type ValidationOutcome = "passed" | "failed";

/** One failed probe or sample: which version, and why (an error code, never key material). */
export interface ProbeFailure {
  version: string;
  reason: string;
}

/** A gate's verdict: what was checked against which version, how many probes, the outcome. */
export interface ValidationResult {
  gate: ValidationGate;
  /** The version the gate vouches for (the new version). */
  version: string;
  outcome: ValidationOutcome;
  check: string;
  /** Probes or samples tried, and how many of them failed. */
  checked: number;
  failed: number;
  /** The first failure's reason (error code or mismatch). */
  reason?: string;
  /** The version the first failure was about (a retained version, for signingPublished). */
  failedVersion?: string;
}

/** The verdict from the probes a gate ran. No probe at all is a failure: a gate that checked
 * nothing vouches for nothing. */
export function gateVerdict(gate: ValidationGate, version: string, checked: number, failures: readonly ProbeFailure[]): ValidationResult {
  const first = failures[0];
  const reason = first?.reason ?? (checked === 0 ? "NothingChecked" : undefined);
  return {
    gate, version, check: GATE_CHECKS[gate], checked, failed: failures.length,
    outcome: failures.length === 0 && checked > 0 ? "passed" : "failed",
    ...(reason ? { reason } : {}),
    ...(first && first.version !== version ? { failedVersion: first.version } : {}),
  };
}

/** gateVerdict for a gate that may legitimately have nothing to check (a KEK no DEK references
 * yet has no sample to unwrap): zero probes pass. */
export function sampleVerdict(gate: ValidationGate, version: string, checked: number, failures: readonly ProbeFailure[]): ValidationResult {
  if (checked === 0 && failures.length === 0) return { gate, version, check: GATE_CHECKS[gate], checked: 0, failed: 0, outcome: "passed" };
  return gateVerdict(gate, version, checked, failures);
}

/** Same length and bytes, compared in time independent of where they differ. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Up to `n` records spread over a page (first, last, then evenly between), so a sample is not
 * only the oldest rows of a partition. */
export function spreadSample<T>(records: readonly T[], n: number): T[] {
  if (n <= 0 || records.length === 0) return [];
  if (records.length <= n) return [...records];
  if (n === 1) return [records[0]!];
  const picks = new Set<number>();
  for (let i = 0; i < n; i++) picks.add(Math.round((i * (records.length - 1)) / (n - 1)));
  return [...picks].sort((x, y) => x - y).map((i) => records[i]!);
}

/** Whether a secret value has the shape its policy's generator makes: `length` random bytes as
 * hex, base64 or base64url. Provider secrets (unknown generators) have no shape to check here. */
export function secretShapeOk(value: string, generator: string, length: number): boolean {
  switch (generator) {
    case "hex":
    case "random":
      return value.length === length * 2 && /^[0-9a-f]+$/.test(value);
    case "base64":
      return value.length === Math.ceil(length / 3) * 4 && /^[A-Za-z0-9+/]+={0,2}$/.test(value);
    case "base64url":
      return value.length === Math.ceil((length * 4) / 3) && /^[A-Za-z0-9_-]+$/.test(value);
    default:
      return value.length > 0;
  }
}

/** The ledger step of a gate (entryId = rotationId#step: a replayed gate writes nothing twice). */
export function validationStep(gate: ValidationGate): string {
  return `validation:${gate}`;
}

/** The error that stops a rotation whose new version failed a gate (not retried: a version that
 * does not work will not start working by asking again). */
export function validationFailed(keyId: string, r: ValidationResult): InvariantViolationError {
  return new InvariantViolationError("ValidationFailed", `[keyrotor] [validation] ${validationFailureText(keyId, r)}`);
}

/** What failed, in one sentence: key, version, gate, probes, first reason, what was checked. */
export function validationFailureText(keyId: string, r: ValidationResult): string {
  const about = r.failedVersion ? `retained version ${r.failedVersion}` : `version ${r.version}`;
  return `${keyId} ${about} failed the ${r.gate} gate (${r.failed} of ${r.checked} probes failed${r.reason ? `, first: ${r.reason}` : ""}): ${r.check}; nothing was disabled`;
}
