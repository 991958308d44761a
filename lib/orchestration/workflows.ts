// The rotation orchestrators, composed of small generators with yield*. They read time only from
// context.df.currentUtcDateTime and carry ids and counts only: inputs, outputs and custom status
// are persisted in history, so no key material ever passes through here.
import type { OrchestrationContext, Task } from "durable-functions";
import { z } from "zod";
import { familyTag } from "../domain/errors";
import { ROTATION_TRIGGERS, type KeyKind, type RotationPhase } from "../domain/keys";
import {
  chunk, durationMs, retirementCandidates, retryDelayMs, revokeDecision, rollbackTarget, safeNextStep, withinRollbackWindow,
  DEFAULT_RETRY, type RetryPolicy,
} from "../domain/rotation";
import type { LedgerEntryType, RotationEventType } from "../ports";
import type { RecordStep, RotationContextView } from "./activities";
import { FENCED_ACTIVITIES } from "./fence";
import { acquireLock, releaseLock, renewLock } from "./lock";
import { DURABLE, instanceIdFor } from "./names";
import { TENANT_PAGE_MAX } from "./dekFanOut";
import { earlierChildrenSettled } from "./dekFanOutChildren";
import { addTotals, countsAfterRewrap, rewrapAll, zeroTotals, type RewrapProgress, type RewrapTotals } from "./rewrap";

// The rewrap lives in ./rewrap (rate-controlled fan-out, bounded history); re-exported for callers.
export { rewrapOrchestrator, RewrapLegSchema, type RewrapLegInput } from "./rewrap";

const A = DURABLE.activities;

// ---- inputs -------------------------------------------------------------------------------------

const duration = z.string().refine((s) => { try { durationMs(s); return true; } catch { return false; } }, "must be an ISO-8601 duration");

export const RotationInputSchema = z.object({
  rotationId: z.string().min(1).max(400),
  keyId: z.string().min(1).max(300),
  trigger: z.enum(ROTATION_TRIGGERS),
  actor: z.string().min(1),
  reason: z.string().max(500).optional(),
  /** emergency: no propagation wait; with revokeOld the compromised version is disabled after the
   * zero-reference proof. */
  mode: z.enum(["normal", "emergency"]).default("normal"),
  revokeOld: z.boolean().optional(),
  /** A second approver who explicitly accepts data loss: only then is a version with references
   * left revoked. */
  dataLossAcceptedBy: z.string().min(1).optional(),
  /** emergency: the version to revoke (the primary when the compromise was reported). Without it,
   * the primary this rotation replaces. Pinning it means a retried emergency, after another
   * rotation promoted a clean version, still revokes the compromised one and not the clean one. */
  compromisedVersion: z.string().min(1).max(64).optional(),
  /** For a tenant's first DEK: the KEK to wrap it under. */
  kekKeyId: z.string().optional(),
  leaseDuration: duration.default("PT15M"),
  /** Wait between publishing a new version and making it primary (skipped in emergencies). */
  propagationDelay: duration.default("PT0S"),
  batchSize: z.number().int().min(1).max(1000).default(500),
  tenantsPerChunk: z.number().int().min(1).max(100).default(8),
  chunkConcurrency: z.number().int().min(1).max(64).default(4),
  /** Range activities per rewrap sub-orchestration episode before continueAsNew (bounded history). */
  batchesPerEpisode: z.number().int().min(1).max(500).default(30),
});
export type RotationInput = z.output<typeof RotationInputSchema>;
export type RotationRequest = z.input<typeof RotationInputSchema>;

export interface RotationOutput {
  rotationId: string;
  keyId: string;
  outcome: "completed" | "failed" | "refused";
  phase: RotationPhase;
  versionBefore?: string;
  versionAfter?: string;
  /** When refused: the rotation holding the key. */
  heldBy?: string;
  counts?: Record<string, number>;
  error?: { code: string; message: string };
}

/** Custom status: ids and counts only. */
export interface RotationStatus {
  rotationId: string;
  phase: RotationPhase;
  lock: "pending" | "held" | "refused" | "released";
  /** total: DEKs that referenced older versions when the rewrap began. */
  progress?: Partial<RewrapProgress> & { rewrapped: number };
}

// ---- plumbing -----------------------------------------------------------------------------------

interface Flow {
  ctx: OrchestrationContext;
  input: RotationInput;
  phase: RotationPhase;
  retry: RetryPolicy;
  steps: number;
  /** DEKs to rewrap, counted before the rewrap starts (progress reporting). */
  total?: number;
}

const nowIso = (ctx: OrchestrationContext): string => ctx.df.currentUtcDateTime.toISOString();

/** An activity call with bounded, classified retries: only transient failures are retried, with
 * exponential backoff on durable timers. A mutating activity (FENCED_ACTIVITIES) called under the
 * lock carries the lock's grant and starts with the lease renewed (invariant 8). */
export function* act<T>(ctx: OrchestrationContext, name: string, input: unknown, retry: RetryPolicy = DEFAULT_RETRY): Generator<Task, T, unknown> {
  const grant = grants.get(ctx);
  if (grant && FENCED_ACTIVITIES.has(name)) input = { ...(input as object), fence: yield* fenceFor(ctx, grant) };
  else if (grant && renewalDue(ctx, grant)) yield* renewGrant(ctx, grant); // keeps the lease through long runs of reads (a lost one stops the next change)
  for (let attempt = 1; ; attempt++) {
    try {
      return (yield ctx.df.callActivity(name, input)) as T;
    } catch (err) {
      const wait = retryDelayMs(err, attempt, retry);
      if (wait === undefined) throw err;
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + wait));
    }
  }
}

// ---- the lock grant (fencing token) --------------------------------------------------------------

/** The grant an orchestration execution holds the key under. Kept per context (each replay builds
 * it again from the replayed grant), so act() fences every mutating call without each caller
 * passing it along. */
interface Grant {
  keyId: string;
  owner: string;
  token: number;
  leaseMs: number;
  /** Orchestration time of the grant or the last renewal. */
  renewedAt: number;
  renewals: number;
}
const grants = new WeakMap<OrchestrationContext, Grant>();

/** Renews the lease (the grant's own: one granted again since is not renewed). false = lost. */
function* renewGrant(ctx: OrchestrationContext, g: Grant): Generator<Task, boolean, unknown> {
  const renewed = yield* renewLock(ctx, g.keyId, g.owner, g.leaseMs, g.token);
  if (renewed) {
    g.renewedAt = ctx.df.currentUtcDateTime.getTime();
    g.renewals++;
  }
  return renewed;
}

/** The fence a mutating activity carries. Once a third of the lease has passed, the lease is renewed
 * first, so the step starts with at least two thirds of a lease left; a failed renewal stops the
 * rotation before the step. */
function* fenceFor(ctx: OrchestrationContext, g: Grant): Generator<Task, { owner: string; token: number }, unknown> {
  if (renewalDue(ctx, g) && !(yield* renewGrant(ctx, g))) {
    throw fail("invariantViolation", "LockLost", `the lease on ${g.keyId} was taken over before a step that changes it`);
  }
  return { owner: g.owner, token: g.token };
}

const renewalDue = (ctx: OrchestrationContext, g: Grant): boolean => ctx.df.currentUtcDateTime.getTime() - g.renewedAt >= g.leaseMs / 3;

/** Renews the lease of this execution's grant (a wait or a rewrap leg between steps). */
function* renewHeld(ctx: OrchestrationContext, keyId: string, owner: string, leaseMs: number): Generator<Task, boolean, unknown> {
  const g = grants.get(ctx);
  return g ? yield* renewGrant(ctx, g) : yield* renewLock(ctx, keyId, owner, leaseMs);
}

type RecordExtra = Partial<Omit<RecordStep, "rotationId" | "keyId" | "step" | "type" | "actor" | "at">>;

/** The zero-reference count of the KEK `f` rotates, in legs (./dekCounts): each leg reads a bounded
 * number of rows and hands its cursor and running totals to the next, so no activity counts the
 * whole table. Only the last leg's totals are an answer. */
function* countRefs(f: Flow, keepVersion: string): Generator<Task, { byVersion: Record<string, number>; other: number }, unknown> {
  const base = { rotationId: f.input.rotationId, kekKeyId: f.input.keyId, keepVersion, paged: true };
  let leg: { byVersion: Record<string, number>; other: number; cursor?: string } | undefined;
  do {
    const more = leg?.cursor ? { cursor: leg.cursor, partial: leg.byVersion } : {};
    leg = yield* act<{ byVersion: Record<string, number>; other: number; cursor?: string }>(f.ctx, A.countReferences, { ...base, ...more }, f.retry);
  } while (leg.cursor);
  return { byVersion: leg.byVersion, other: leg.other };
}

function* rec(f: Flow, step: string, type: LedgerEntryType, event: RotationEventType | undefined, extra: RecordExtra = {}): Generator<Task, void, unknown> {
  const i = f.input;
  const entry: RecordStep = {
    rotationId: i.rotationId, keyId: i.keyId, step, type, actor: i.actor, at: nowIso(f.ctx), phase: f.phase, trigger: i.trigger,
    ...(i.reason ? { reason: i.reason } : {}), ...(event ? { event } : {}), ...extra,
  };
  yield* act(f.ctx, A.recordStep, entry, f.retry);
}

function setPhase(f: Flow, phase: RotationPhase, progress?: RotationStatus["progress"]): void {
  f.phase = phase;
  const status: RotationStatus = {
    rotationId: f.input.rotationId, phase, lock: "held", ...(progress ? { progress: { ...progress, ...(f.total !== undefined ? { total: f.total } : {}) } } : {}),
  };
  f.ctx.df.setCustomStatus(status);
}

function errorOf(err: unknown): { code: string; message: string } {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
  const code = /\[[a-zA-Z]+\] ([A-Za-z]+):/.exec(message)?.[1] ?? familyTag(err) ?? "Internal";
  return { code, message };
}

/** Errors raised by the orchestrator itself carry a family tag like activity errors do. */
function fail(family: "invariantViolation" | "invalidRequest", code: string, message: string): Error {
  return new Error(`[${family}] ${code}: [keyrotor] [rotation] ${message}`);
}

/** Waits for consumers to pick up the new version. The wait may outlast the lease, so it runs in
 * legs of half a lease with a renewal before each: the lock must never lapse while we hold the key. */
function* waitPropagation(f: Flow): Generator<Task, void, unknown> {
  const ms = durationMs(f.input.propagationDelay);
  if (f.input.mode === "emergency" || ms === 0) return;
  const { ctx, input } = f;
  const leaseMs = durationMs(input.leaseDuration);
  const until = ctx.df.currentUtcDateTime.getTime() + ms;
  for (let now = ctx.df.currentUtcDateTime.getTime(); now < until; now = ctx.df.currentUtcDateTime.getTime()) {
    const stillOurs = yield* renewHeld(ctx, input.keyId, input.rotationId, leaseMs);
    if (!stillOurs) throw fail("invariantViolation", "LockLost", `the lease on ${input.keyId} was taken over during the propagation wait`);
    yield ctx.df.createTimer(new Date(now + Math.min(until - now, Math.max(1_000, Math.floor(leaseMs / 2)))));
  }
  if (!(yield* renewHeld(ctx, input.keyId, input.rotationId, leaseMs))) {
    throw fail("invariantViolation", "LockLost", `the lease on ${input.keyId} was taken over during the propagation wait`);
  }
}

// ---- the lock frame shared by every workflow ----------------------------------------------------

interface Locked<T> {
  run: (f: Flow, kc: RotationContextView) => Generator<Task, T, unknown>;
}

/** lock → load context → body → Completed | Failed, releasing the lock in `finally`. */
function* underLock<T extends Partial<RotationOutput>>(ctx: OrchestrationContext, input: RotationInput, body: Locked<T>): Generator<Task, RotationOutput, unknown> {
  const f: Flow = { ctx, input, phase: "requested", retry: DEFAULT_RETRY, steps: 0 };
  const base = { rotationId: input.rotationId, keyId: input.keyId };
  ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "requested", lock: "pending" } satisfies RotationStatus);
  const floor = (yield* act<{ token: number }>(ctx, A.readFence, { keyId: input.keyId }, f.retry)).token;
  const lock = yield* acquireLock(ctx, input.keyId, input.rotationId, durationMs(input.leaseDuration), floor);
  if (!lock.granted) {
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "aborted", lock: "refused" } satisfies RotationStatus);
    return { ...base, outcome: "refused", phase: "aborted", heldBy: lock.heldBy.owner };
  }
  setPhase(f, "locked");
  const token = lock.lease.token;
  try {
    if (token !== undefined) {
      // Record the grant where activities check it before the first step that changes anything.
      grants.set(ctx, { keyId: input.keyId, owner: input.rotationId, token, leaseMs: durationMs(input.leaseDuration), renewedAt: ctx.df.currentUtcDateTime.getTime(), renewals: 0 });
      yield* act(ctx, A.claimFence, { keyId: input.keyId, owner: input.rotationId, token }, f.retry);
    }
    if (lock.brokenFrom) {
      yield* rec(f, "lockBroken", "LockBroken", "LockBroken", {
        details: { previousOwner: lock.brokenFrom.owner, previousSince: lock.brokenFrom.since, previousLeaseUntil: lock.brokenFrom.leaseUntil },
      });
    }
    yield* rec(f, "requested", input.mode === "emergency" ? "EmergencyRequested" : "RotationRequested", undefined);
    yield* rec(f, "locked", "LockAcquired", "RotationStarted");
    const kc = yield* act<RotationContextView>(ctx, A.loadRotationContext, { keyId: input.keyId, rotationId: input.rotationId }, f.retry);
    f.retry = { ...DEFAULT_RETRY, maxAttempts: kc.policy.maxAttempts };
    const done = yield* body.run(f, kc);
    const renewals = grants.get(ctx)?.renewals ?? 0;
    const result = renewals > 0 ? { ...done, counts: { ...(done.counts ?? {}), leaseRenewals: renewals } } : done;
    setPhase(f, "completed");
    yield* rec(f, "completed", "Completed", "RotationCompleted", {
      ...(result.versionBefore ? { versionBefore: result.versionBefore } : {}),
      ...(result.versionAfter ? { versionAfter: result.versionAfter } : {}),
      ...(result.counts ? { counts: result.counts } : {}),
    });
    yield* act(ctx, A.sealLedger, { rotationId: input.rotationId, keyId: input.keyId }, f.retry);
    return { ...base, ...result, outcome: "completed", phase: "completed" };
  } catch (err) {
    const failedIn = f.phase;
    const error = errorOf(err);
    const kind = (input.keyId.split(":")[0] ?? "kek") as KeyKind;
    f.phase = "failed";
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "failed", lock: "held" } satisfies RotationStatus);
    // Renewals tell of a slow step as much on failure as on completion.
    const renewals = grants.get(ctx)?.renewals ?? 0;
    const counts = renewals > 0 ? { counts: { leaseRenewals: renewals } } : {};
    yield* rec(f, "failed", "Failed", "RotationFailed", { error, ...counts, details: { failedPhase: failedIn, safeNext: safeNextStep(failedIn, kind) } });
    return { ...base, ...counts, outcome: "failed", phase: failedIn, error };
  } finally {
    grants.delete(ctx); // nothing after the release acts under the grant or renews it
    yield* releaseLock(ctx, input.keyId, input.rotationId, token);
    yield* act(ctx, A.recordStep, {
      rotationId: input.rotationId, keyId: input.keyId, step: "released", type: "LockReleased", actor: input.actor, at: nowIso(ctx), phase: f.phase,
    } satisfies RecordStep, f.retry);
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: f.phase, lock: "released" } satisfies RotationStatus);
  }
}

// ---- KEK ----------------------------------------------------------------------------------------

/** One rewrap pass of the KEK (./rewrap): progress as this rotation's custom status, RewrapProgress
 * ledger entries, and the lease renewed between legs. */
function* rewrapPass(f: Flow, newVersion: string, pass: number, pending: number | undefined): Generator<Task, RewrapTotals, unknown> {
  const { ctx, input } = f;
  const grant = grants.get(ctx);
  const r = yield* rewrapAll(ctx, {
    rotationId: input.rotationId, kekKeyId: input.keyId, newVersion, pass,
    ...(grant ? { fence: { owner: grant.owner, token: grant.token } } : {}),
    // The count just taken in legs (countRefs): the rewrap's plan never counts the whole table itself.
    ...(pending !== undefined ? { total: pending } : {}),
    options: { dekBatch: input.batchSize, rangesPerEpisode: input.batchesPerEpisode, maxAttempts: f.retry.maxAttempts },
  }, {
    progress: (p) => setPhase(f, "rewrapping", p),
    checkpoint: (step, counts) => rec(f, step, "RewrapProgress", "RewrapProgress", { counts }),
    renewLease: () => renewHeld(ctx, input.keyId, input.rotationId, durationMs(input.leaseDuration)),
  });
  const { total: _total, budgetPerSec: _budget, ...totals } = r;
  return totals;
}

function* kekFlow(f: Flow, kc: RotationContextView): Generator<Task, Partial<RotationOutput>, unknown> {
  const { ctx, input } = f;
  const created = yield* act<{ version: string; reused: boolean }>(ctx, A.createKeyVersion, { rotationId: input.rotationId, keyId: input.keyId, at: nowIso(ctx) }, f.retry);
  setPhase(f, "versionCreated");
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: created.version, details: { reused: created.reused } });
  yield* waitPropagation(f);
  const promoted = yield* act<{ previousPrimary?: string }>(ctx, A.promoteVersion, { rotationId: input.rotationId, keyId: input.keyId, version: created.version, at: nowIso(ctx) }, f.retry);
  const versionBefore = promoted.previousPrimary ?? kc.primaryVersion;
  setPhase(f, "promoted");
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) });
  f.total = (yield* countRefs(f, created.version)).other;
  setPhase(f, "rewrapping", { rewrapped: 0, scanned: 0 });
  let totals = zeroTotals();
  let refs: { other: number; byVersion: Record<string, number> } = { other: 0, byVersion: {} };
  // Two passes at most: the second catches DEKs that changed (412) or arrived during the first.
  for (let pass = 1; pass <= 2; pass++) {
    totals = addTotals(totals, yield* rewrapPass(f, created.version, pass, pass === 1 ? f.total : refs.other));
    refs = yield* countRefs(f, created.version);
    if (refs.other === 0) break;
  }
  // From the count just taken, not the ranges' sums: true after a crash lost a range's result.
  const counts = countsAfterRewrap(totals, f.total ?? 0, refs.other);
  const revoke = revokes(input, kc);
  const target = input.compromisedVersion ?? versionBefore;
  if (target === created.version) throw fail("invariantViolation", "RevokeNewPrimary", `the version to revoke, ${target}, is the one this rotation just promoted`);
  const targetRefs = target ? (refs.byVersion[target] ?? 0) : 0;
  if (refs.other > 0) {
    const decision = revokeDecision(targetRefs, input.dataLossAcceptedBy);
    if (!(revoke && decision.revoke && target)) {
      throw fail("invariantViolation", "ReferencesRemain", `${refs.other} DEKs still reference old versions of ${input.keyId}; nothing was disabled`);
    }
  }
  setPhase(f, "rewrapped");
  yield* rec(f, "rewrapped", "RewrapCompleted", undefined, { counts, versionAfter: created.version });
  if (revoke && target) yield* revokeVersion(f, target, targetRefs);
  return { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}), counts };
}

/** Revoking needs an emergency (two people approved it); a normal rotation never revokes, whatever
 * its input says: old versions retire after the overlap with a zero-reference proof. */
function revokes(input: RotationInput, kc: RotationContextView): boolean {
  return input.mode === "emergency" && (input.revokeOld ?? kc.policy.revokeOld);
}

function* revokeVersion(f: Flow, version: string, remaining: number): Generator<Task, void, unknown> {
  const decision = revokeDecision(remaining, f.input.dataLossAcceptedBy);
  if (!decision.revoke) throw fail("invariantViolation", "ReferencesRemain", decision.reason);
  yield* act(f.ctx, A.disableVersion, { rotationId: f.input.rotationId, keyId: f.input.keyId, version, state: "revoked" }, f.retry);
  yield* rec(f, `revoked:${version}`, "Revoked", "Revoked", {
    versionBefore: version, counts: { remainingReferences: remaining },
    ...(decision.dataLossAcceptedBy ? { details: { dataLossAcceptedBy: decision.dataLossAcceptedBy } } : {}),
  });
}

// ---- DEK, signing, secret -----------------------------------------------------------------------

function* dekFlow(f: Flow): Generator<Task, Partial<RotationOutput>, unknown> {
  const { ctx, input } = f;
  const tenant = input.keyId.slice("dek:".length);
  const r = yield* act<{ dekVersion: string; previous?: string; kekVersion: string; reused: boolean }>(ctx, A.rotateTenantDek, {
    rotationId: input.rotationId, tenant, at: nowIso(ctx), ...(input.kekKeyId ? { kekKeyId: input.kekKeyId } : {}),
  }, f.retry);
  setPhase(f, "versionCreated");
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: r.dekVersion, details: { kekVersion: r.kekVersion } });
  setPhase(f, "promoted");
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: r.dekVersion, ...(r.previous ? { versionBefore: r.previous } : {}) });
  return { versionAfter: r.dekVersion, ...(r.previous ? { versionBefore: r.previous } : {}) };
}

function* signingFlow(f: Flow, kc: RotationContextView): Generator<Task, Partial<RotationOutput>, unknown> {
  const { ctx, input } = f;
  const created = yield* act<{ version: string }>(ctx, A.createKeyVersion, { rotationId: input.rotationId, keyId: input.keyId, at: nowIso(ctx) }, f.retry);
  setPhase(f, "versionCreated");
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: created.version });
  // Verifiers learn the new public key before anything is signed with it.
  yield* act(ctx, A.publishJwks, { keyId: input.keyId, include: [created.version] }, f.retry);
  yield* waitPropagation(f);
  const promoted = yield* act<{ previousPrimary?: string }>(ctx, A.promoteVersion, { rotationId: input.rotationId, keyId: input.keyId, version: created.version, at: nowIso(ctx) }, f.retry);
  const versionBefore = promoted.previousPrimary ?? kc.primaryVersion;
  setPhase(f, "promoted");
  if (versionBefore) yield* act(ctx, A.setKeyOps, { keyId: input.keyId, version: versionBefore, keyOps: ["verify"] }, f.retry);
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) });
  const revoke = revokes(input, kc);
  const target = f.input.compromisedVersion ?? versionBefore;
  if (revoke && target) yield* revokeVersion(f, target, 0);
  yield* act(ctx, A.publishJwks, { keyId: input.keyId }, f.retry);
  return { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) };
}

function* secretFlow(f: Flow, kc: RotationContextView): Generator<Task, Partial<RotationOutput>, unknown> {
  const { ctx, input } = f;
  const created = yield* act<{ version: string; slot?: string }>(ctx, A.createSecretVersion, { rotationId: input.rotationId, keyId: input.keyId, at: nowIso(ctx) }, f.retry);
  setPhase(f, "versionCreated");
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: created.version, ...(created.slot ? { details: { slot: created.slot } } : {}) });
  yield* waitPropagation(f);
  const promoted = yield* act<{ previousPrimary?: string }>(ctx, A.promoteVersion, { rotationId: input.rotationId, keyId: input.keyId, version: created.version, at: nowIso(ctx) }, f.retry);
  const versionBefore = promoted.previousPrimary ?? kc.primaryVersion;
  setPhase(f, "promoted");
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) });
  const revoke = revokes(input, kc);
  const target = f.input.compromisedVersion ?? versionBefore;
  if (revoke && target) yield* revokeVersion(f, target, 0);
  return { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) };
}

// ---- orchestrators ------------------------------------------------------------------------------

/** One workflow path for every trigger and every kind of key. */
export function* rotationOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const input = RotationInputSchema.parse(ctx.df.getInput());
  return yield* underLock(ctx, input, {
    *run(f, kc) {
      switch (kc.kind) {
        case "kek": return yield* kekFlow(f, kc);
        case "dek": return yield* dekFlow(f);
        case "signing": return yield* signingFlow(f, kc);
        case "secret": return yield* secretFlow(f, kc);
      }
    },
  });
}

export const DekFanOutSchema = z.object({
  /** Identifies this fan-out; each tenant's rotationId is `dek:<tenant>@<slot>`. */
  slot: z.string().min(1).max(64),
  trigger: z.enum(ROTATION_TRIGGERS).default("schedule"),
  actor: z.string().min(1).default("system:timer"),
  /** An explicit, small list (one page at most) instead of paging the tenants index. */
  tenants: z.array(z.string().min(1)).max(TENANT_PAGE_MAX).optional(),
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Tenants per episode: one listTenants page, then continueAsNew with the cursor. */
  pageSize: z.number().int().min(1).max(TENANT_PAGE_MAX).default(500),
  /** Where the next episode's page starts (from the previous episode). */
  cursor: z.string().min(1).max(2048).optional(),
  /** Totals of the earlier episodes. */
  counts: z.record(z.string(), z.number().int().min(0)).optional(),
  /** How often, and how long at most, to wait for a tenant's rotation an earlier run of this
   * fan-out left running (./dekFanOutChildren). */
  childPollMs: z.number().int().min(100).max(3_600_000).default(15_000),
  childMaxWaitMs: z.number().int().min(0).max(86_400_000).default(3_600_000),
});

/** The DEK rotation of every tenant due in a slot: one rotation per tenant (each under its own
 * lock), at most `concurrency` at a time. One page of tenants per episode, then continueAsNew with
 * the cursor: input and history hold one page whatever the number of tenants. */
export function* dekFanOutOrchestrator(ctx: OrchestrationContext): Generator<Task, Record<string, number>, unknown> {
  const input = DekFanOutSchema.parse(ctx.df.getInput());
  const page: { tenants: string[]; cursor?: string } = input.tenants
    ? { tenants: input.tenants }
    : yield* act<{ tenants: string[]; cursor?: string }>(ctx, A.listTenants, { slot: input.slot, limit: input.pageSize, ...(input.cursor ? { cursor: input.cursor } : {}) });
  const counts: Record<string, number> = { tenants: 0, completed: 0, failed: 0, refused: 0, ...input.counts };
  counts.tenants = (counts.tenants ?? 0) + page.tenants.length;
  for (const wave of chunk(page.tenants, input.concurrency)) {
    const children = wave.map((t) => ({ t, rotationId: `dek:${t}@${input.slot}` })).map((c) => ({ ...c, instanceId: instanceIdFor(c.rotationId) }));
    if (children.length === 0) continue;
    // The child id is the slot's rotation id on purpose; a restarted fan-out first waits for the
    // children its earlier run left running (./dekFanOutChildren says why).
    const stillRunning = yield* earlierChildrenSettled(ctx, children.map((c) => c.instanceId), input.childPollMs, input.childMaxWaitMs);
    if (stillRunning.size > 0) counts.stillRunning = (counts.stillRunning ?? 0) + stillRunning.size;
    const tasks = children.filter((c) => !stillRunning.has(c.instanceId)).map(({ t, rotationId, instanceId }) =>
      ctx.df.callSubOrchestrator(DURABLE.orchestrators.rotation, { rotationId, keyId: `dek:${t}`, trigger: input.trigger, actor: input.actor } satisfies RotationRequest, instanceId));
    if (tasks.length === 0) continue;
    for (const r of (yield ctx.df.Task.all(tasks)) as RotationOutput[]) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
    ctx.df.setCustomStatus({ ...counts });
  }
  if (page.cursor) {
    const { tenants: _explicit, ...rest } = input;
    ctx.df.continueAsNew({ ...rest, cursor: page.cursor, counts } satisfies z.input<typeof DekFanOutSchema>);
    return counts;
  }
  return counts;
}

export const MaintenanceInputSchema = z.object({
  rotationId: z.string().min(1),
  keyId: z.string().min(1),
  actor: z.string().min(1),
  reason: z.string().optional(),
  trigger: z.enum(ROTATION_TRIGGERS).default("manual"),
  leaseDuration: duration.default("PT15M"),
  /** rollback: the version to re-promote, read by the API from the rolled-back rotation's own
   * record (never "the newest secondary"), and the version that rotation made primary (the
   * rollback is refused once that one is no longer primary). */
  rollbackTo: z.string().min(1).max(64).optional(),
  rollbackFrom: z.string().min(1).max(64).optional(),
});

function maintenanceInput(raw: unknown): RotationInput {
  const m = MaintenanceInputSchema.parse(raw);
  return RotationInputSchema.parse({ ...m, mode: "normal" });
}

/** Disables secondary versions whose overlap (retainFor for signing keys) is over, each only with
 * a zero-reference proof. Same lock as rotations. */
export function* retirementOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const input = maintenanceInput(ctx.df.getInput());
  return yield* underLock(ctx, input, {
    *run(f, kc) {
      const waitMs = kc.kind === "signing" ? kc.policy.retainForMs : kc.policy.overlapMs;
      const candidates = kc.kind === "dek" ? [] : retirementCandidates(kc.versions, nowIso(ctx), waitMs);
      const counts = { candidates: candidates.length, retired: 0, kept: 0 };
      for (const v of candidates) {
        const refs = kc.kind === "kek"
          ? (yield* countRefs(f, kc.primaryVersion ?? "")).byVersion[v.version] ?? 0
          : 0;
        if (refs > 0) {
          counts.kept++;
          continue;
        }
        yield* act(ctx, A.disableVersion, { rotationId: input.rotationId, keyId: input.keyId, version: v.version, state: "retired" }, f.retry);
        yield* rec(f, `retired:${v.version}`, "Retired", "Retired", { versionBefore: v.version, counts: { references: 0 } });
        counts.retired++;
      }
      if (kc.kind === "signing" && counts.retired > 0) yield* act(ctx, A.publishJwks, { keyId: input.keyId }, f.retry);
      return { counts };
    },
  });
}

/** Re-promotes the previous version within the rollback window. The newer version stays enabled
 * (secondary): nothing written under it becomes unreadable. */
export function* rollbackOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const input = maintenanceInput(ctx.df.getInput());
  const pinned = MaintenanceInputSchema.parse(ctx.df.getInput());
  return yield* underLock(ctx, input, {
    *run(f, kc) {
      const primary = kc.versions.find((v) => v.state === "primary");
      const target = pinned.rollbackTo !== undefined ? kc.versions.find((v) => v.version === pinned.rollbackTo) : rollbackTarget(kc.versions);
      if (!primary || !target) throw fail("invalidRequest", "NothingToRollBack", `${input.keyId} has no previous version to re-promote`);
      if (pinned.rollbackFrom !== undefined && primary.version !== pinned.rollbackFrom) {
        throw fail("invalidRequest", "Superseded", `${input.keyId}'s primary is ${primary.version}, not ${pinned.rollbackFrom}: a later rotation superseded the one rolled back`);
      }
      // Before any key-ops change: a revoked (compromised) or retired version never serves again.
      if (target.state === "revoked" || target.state === "retired") {
        throw fail("invalidRequest", "VersionRevoked", `${input.keyId} version ${target.version} is ${target.state}; a rollback never re-promotes it`);
      }
      if (!withinRollbackWindow(primary.createdAt, nowIso(ctx), kc.policy.rollbackWindowMs)) {
        throw fail("invalidRequest", "RollbackWindowClosed", `the primary of ${input.keyId} is older than its rollback window`);
      }
      if (kc.kind === "signing") yield* act(ctx, A.setKeyOps, { keyId: input.keyId, version: target.version, keyOps: ["sign", "verify"] }, f.retry);
      yield* act(ctx, A.promoteVersion, { rotationId: input.rotationId, keyId: input.keyId, version: target.version, at: nowIso(ctx), rollback: true }, f.retry);
      if (kc.kind === "signing") {
        yield* act(ctx, A.setKeyOps, { keyId: input.keyId, version: primary.version, keyOps: ["verify"] }, f.retry);
        yield* act(ctx, A.publishJwks, { keyId: input.keyId }, f.retry);
      }
      setPhase(f, "promoted");
      yield* rec(f, "rolledBack", "RolledBack", "RolledBack", { versionBefore: primary.version, versionAfter: target.version });
      return { versionBefore: primary.version, versionAfter: target.version };
    },
  });
}

/** Re-exported: the id form is defined (and explained) with the durable names. */
export { instanceIdFor };
