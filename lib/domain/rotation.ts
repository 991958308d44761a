// The rules of a rotation that need no I/O: the lease-lock protocol, phase transitions, retry
// classification, the version bookkeeping of promote/rollback/retire, and the emergency-revoke
// decision. Orchestrators and the lock entity call these; tests prove them without a host.
import { durableSafeId } from "./durableIds";
import { familyTag, type ErrorFamily } from "./errors";
import type { KeyKind, KeyVersion, RotationPhase } from "./keys";
import { add as addVersion, findRollbackTarget, promote as promoteVersion, retirementCandidates as versionRetirementCandidates } from "./versions";

// ---- Lease lock ---------------------------------------------------------------------------------

export interface Lease {
  /** The rotationId holding the key. */
  owner: string;
  /** ISO instants from the owner's deterministic clock. */
  since: string;
  leaseUntil: string;
  /** The fencing token of this grant (every mutating step checks it before it acts): every grant, re-grants and take-overs
   * included, gets a token greater than any before it. Absent only on leases granted before
   * tokens existed. */
  token?: number;
}

/** State of one keyLock entity; `holder` is absent when free. `fence` is the last token granted:
 * it outlives the holder (release and a hand-break keep it), so tokens only ever grow. */
export interface LockState {
  holder?: Lease;
  fence?: number;
}

export interface AcquireRequest {
  owner: string;
  /** The caller's current time (an orchestration's currentUtcDateTime): entities have no clock of
   * their own that replays deterministically, so expiry is judged against the caller's time. */
  now: string;
  leaseUntil: string;
  /** The highest token recorded outside the entity (the key's fence row): a grant's token exceeds
   * it too, so a lock entity that starts counting again (a new task hub) never issues a token that
   * an older grant already used. */
  floor?: number;
}

/** Renewing or releasing names the grant: an owner whose grant was superseded (its own rotationId
 * granted again, e.g. a restarted instance) cannot extend or free the newer grant. */
export interface GrantRef {
  owner: string;
  /** Omitted by callers that predate tokens: the owner alone is compared. */
  token?: number;
}

export type AcquireResult =
  | { granted: true; lease: Lease; brokenFrom?: Lease }
  | { granted: false; heldBy: Lease };

const ms = (iso: string): number => Date.parse(iso);

/** The state with the holder removed and the last token kept. */
const freed = (state: LockState): LockState => (state.fence !== undefined ? { fence: state.fence } : {});

/** Does `ref` name the current holder's grant? */
function holds(held: Lease | undefined, ref: GrantRef): held is Lease {
  if (!held || held.owner !== ref.owner) return false;
  return ref.token === undefined || held.token === undefined || held.token === ref.token;
}

/** Grants the lock when it is free, already ours (re-entrant: a replayed or retried acquire must
 * not lock its own owner out), or held by a lease that expired before `now` (a take-over, reported
 * as brokenFrom so the new owner can audit it as LockBroken). Every grant takes the next fencing
 * token, so a re-entrant grant fences out an older instance of the same owner too. */
export function tryAcquire(state: LockState, req: AcquireRequest): { state: LockState; result: AcquireResult } {
  const held = state.holder;
  if (held && held.owner !== req.owner && ms(held.leaseUntil) > ms(req.now)) {
    return { state, result: { granted: false, heldBy: held } };
  }
  const token = Math.max(state.fence ?? 0, held?.token ?? 0, req.floor ?? 0) + 1;
  const since = held && held.owner === req.owner ? held.since : req.now;
  const lease: Lease = { owner: req.owner, since, leaseUntil: req.leaseUntil, token };
  const brokenFrom = held && held.owner !== req.owner ? held : undefined;
  return { state: { holder: lease, fence: token }, result: brokenFrom ? { granted: true, lease, brokenFrom } : { granted: true, lease } };
}

/** Only the holder of the grant releases; releasing a free lock, one held by another or a newer
 * grant changes nothing. The last token stays. */
export function release(state: LockState, owner: string | GrantRef): { state: LockState; released: boolean } {
  const ref = typeof owner === "string" ? { owner } : owner;
  if (!holds(state.holder, ref)) return { state, released: false };
  return { state: freed(state), released: true };
}

/** Clears a lock by hand, only if `expectedOwner` still holds it: compare-and-clear, so a lease
 * taken over (or re-acquired) since the caller judged it dead is never stolen. Whether the holder
 * is dead (lease expired, orchestration terminal) is the caller's judgement, audited by it. The
 * last token stays, so the next grant still fences out the old holder's stragglers. */
export function forceRelease(state: LockState, expectedOwner: string): { state: LockState; released: boolean; holder?: Lease } {
  if (!state.holder) return { state, released: false };
  if (state.holder.owner !== expectedOwner) return { state, released: false, holder: state.holder };
  return { state: freed(state), released: true, holder: state.holder };
}

/** Extends the holder's lease. A lease that was taken over (or granted again) meanwhile is not
 * renewed: the caller learns it lost the key and must stop. */
export function renew(state: LockState, req: AcquireRequest & { token?: number }): { state: LockState; renewed: boolean; heldBy?: Lease } {
  const held = state.holder;
  if (!holds(held, req)) return held ? { state, renewed: false, heldBy: held } : { state, renewed: false };
  return { state: { ...state, holder: { ...held, leaseUntil: req.leaseUntil } }, renewed: true };
}

// ---- Fencing ------------------------------------------------------------------------------------

/** The grant a fenced step acts under, as recorded where activities can read it (the fence row of
 * the key): activities cannot read the lock entity, so the orchestrator copies each grant there
 * (claimFence) before its first mutating step. */
export interface FenceRecord {
  owner: string;
  token: number;
}

/** Recording a grant: a newer token replaces the record, the same grant is already recorded, and
 * an older or conflicting one is refused (a newer grant exists: the claimant lost the key). */
export function fenceClaim(stored: FenceRecord | undefined, claim: FenceRecord): "write" | "recorded" | "superseded" {
  if (!stored || stored.token < claim.token) return "write";
  return stored.token === claim.token && stored.owner === claim.owner ? "recorded" : "superseded";
}

/** A mutating step may act only under the latest recorded grant. */
export function fenceAdmits(stored: FenceRecord | undefined, mine: FenceRecord): boolean {
  return stored !== undefined && stored.token === mine.token && stored.owner === mine.owner;
}

/** Entity keys: keyIds use only [A-Za-z0-9-:/]; "/" is escaped ("_2F", durableSafeId) so the
 * key survives any store that treats it as a separator (Table row keys) and reads the same
 * through the durable endpoints' URL decoding (lib/orchestration/names.ts). */
export function lockEntityKey(keyId: string): string {
  return durableSafeId(keyId);
}

// ---- Phases -------------------------------------------------------------------------------------

const NEXT: Record<RotationPhase, readonly RotationPhase[]> = {
  requested: ["approved", "locked", "aborted", "failed"],
  approved: ["locked", "aborted", "failed"],
  locked: ["versionCreated", "aborted", "failed", "completed"],
  versionCreated: ["promoted", "failed"],
  promoted: ["rewrapping", "completed", "failed"],
  rewrapping: ["rewrapped", "failed"],
  rewrapped: ["completed", "failed"],
  completed: [],
  failed: [],
  aborted: [],
};

export function canTransition(from: RotationPhase, to: RotationPhase): boolean {
  return NEXT[from].includes(to);
}

/** What an operator can safely do after a failure in each phase; written into the Failed entry. */
export function safeNextStep(phase: RotationPhase, kind: KeyKind): string {
  switch (phase) {
    case "requested":
    case "approved":
    case "locked":
      return "nothing changed; fix the cause and start the rotation again";
    case "versionCreated":
      return "a new version exists but is not primary; starting the same rotation again reuses it";
    case "promoted":
    case "rewrapping":
      return kind === "kek"
        ? "the new version is primary and old versions stay enabled as secondary; every DEK is still readable; restart the rotation to finish the rewrap"
        : "the new version is primary and the old one stays valid; restart the rotation to finish";
    case "rewrapped":
      return "all data is under the new version; old versions are still enabled; restart to finish or leave them for retirement";
    default:
      return "no action needed";
  }
}

// ---- Retries ------------------------------------------------------------------------------------

export interface RetryPolicy {
  maxAttempts: number;
  firstRetryMs: number;
  maxRetryMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, firstRetryMs: 1_000, maxRetryMs: 16_000 };

/** Only transient failures are retried: a dependency that is down or throttling, or a row that
 * changed under us (the activity re-reads). The caller's mistakes and broken invariants stop at
 * once. Untagged errors count as transient internal faults, as dispositionOf() treats them. */
export function isRetryable(family: ErrorFamily | undefined): boolean {
  return family !== "invalidRequest" && family !== "invariantViolation";
}

/** `attempt` is the number of attempts made so far (1 after the first failure). Returns the wait
 * before the next attempt, or undefined to give up. Exponential: 1, 2, 4, 8, 16 s (Key Vault's
 * own guidance for 429s). */
export function retryDelayMs(error: unknown, attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number | undefined {
  if (!isRetryable(familyTag(error))) return undefined;
  if (attempt >= policy.maxAttempts) return undefined;
  return Math.min(policy.firstRetryMs * 2 ** (attempt - 1), policy.maxRetryMs);
}

// ---- Versions -----------------------------------------------------------------------------------

export interface VersionsChange {
  versions: KeyVersion[];
  primaryVersion: string;
  /** The version that was primary before, if any and if different. */
  previousPrimary?: string;
  changed: boolean;
}

/** Makes `newVersion` primary (adding it when unknown) by the version rule book's add + promote,
 * so it refuses a retired or revoked version too; the old primary is demoted at the new
 * version's creation. Idempotent: promoting the current primary changes nothing. */
export function promote(versions: readonly KeyVersion[], newVersion: KeyVersion): VersionsChange {
  const current = versions.find((v) => v.state === "primary");
  const key = { keyId: "(versions)", versions: [...versions], ...(current ? { primaryVersion: current.version } : {}) };
  const known = versions.some((v) => v.version === newVersion.version);
  const base = known ? key : addVersion(key, { ...newVersion, state: current ? "secondary" : "primary" });
  const next = promoteVersion(base, newVersion.version, newVersion.createdAt);
  const changed = next !== key;
  return {
    versions: next.versions, primaryVersion: newVersion.version, changed,
    ...(changed && current && current.version !== newVersion.version ? { previousPrimary: current.version } : {}),
  };
}

/** The version a rollback re-promotes: the one the primary's promotion demoted (the version rule
 * book, lib/domain/versions.ts, decides). */
export function rollbackTarget(versions: readonly KeyVersion[]): KeyVersion | undefined {
  return findRollbackTarget({ versions: [...versions] });
}

/** A rollback is allowed only while the primary is younger than the rollback window. */
export function withinRollbackWindow(primaryCreatedAt: string, now: string, rollbackWindowMs: number): boolean {
  return ms(now) - ms(primaryCreatedAt) <= rollbackWindowMs;
}

/** Secondary versions whose dual-running time is over, counted from their demotion (the version
 * rule book, lib/domain/versions.ts, decides). Reference counts are checked by the caller. */
export function retirementCandidates(versions: readonly KeyVersion[], now: string, overlapMs: number): KeyVersion[] {
  return versionRetirementCandidates(versions, now, overlapMs);
}

// ---- Emergency ----------------------------------------------------------------------------------

export type RevokeDecision = { revoke: true; dataLossAcceptedBy?: string } | { revoke: false; reason: string };

/** Invariant 2: a version is disabled only after a count proves nothing references it, unless a
 * second person explicitly accepted the data loss. */
export function revokeDecision(remainingReferences: number, dataLossAcceptedBy: string | undefined): RevokeDecision {
  if (remainingReferences === 0) return { revoke: true };
  if (dataLossAcceptedBy) return { revoke: true, dataLossAcceptedBy };
  return { revoke: false, reason: `${remainingReferences} references remain; revoking would make data undecryptable` };
}

// ---- Fan-out ------------------------------------------------------------------------------------

/** Splits `items` into consecutive chunks of at most `size` (size ≥ 1). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** ISO-8601 durations the policies use (days, hours, minutes, seconds; weeks; no months/years
 * beyond a 30/365-day approximation) to milliseconds, without luxon so the module stays tiny. */
export function durationMs(iso: string): number {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!m || iso === "P" || iso.endsWith("T")) throw new RangeError(`[keyrotor] [rotation] not an ISO-8601 duration: "${iso}"`);
  const n = (i: number): number => Number(m[i] ?? 0);
  return ((((n(1) * 365 + n(2) * 30 + n(3) * 7 + n(4)) * 24 + n(5)) * 60 + n(6)) * 60 + n(7)) * 1000;
}
