// The frame every flow runs in: lock → record → load the key's context → the flow's body →
// Completed | Failed → release, plus the steps flows share (record, phase, propagation wait).
// Orchestrator code: time only from context.df.currentUtcDateTime, ids and counts only.
import type { OrchestrationContext, Task } from "durable-functions";
import { historyError, readHistoryError, type ErrorFamily } from "../../domain/errors";
import type { KeyKind, RotationPhase } from "../../domain/keys";
import { durationMs, safeNextStep, DEFAULT_RETRY, type RetryPolicy } from "../../domain/rotation";
import type { LedgerEntryType, RotationEventType } from "../../ports";
import type { RecordStep, RotationContextView } from "../activities";
import { acquireLock, releaseLock } from "../lock";
import { DURABLE } from "../names";
import { act, dropGrant, grantOf, holdGrant, renewHeld } from "./act";
import type { RotationInput, RotationOutput, RotationStatus } from "./types";

const A = DURABLE.activities;

/** One execution of a flow under the lock. */
export interface Flow {
  ctx: OrchestrationContext;
  input: RotationInput;
  phase: RotationPhase;
  retry: RetryPolicy;
  /** DEKs to rewrap, counted before the rewrap starts (progress reporting). */
  total?: number;
}

/** What a flow's body returns; the frame adds ids, outcome and phase. */
export type FlowResult = Partial<RotationOutput>;
export type FlowBody = (f: Flow, kc: RotationContextView) => Generator<Task, FlowResult, unknown>;

export const nowIso = (ctx: OrchestrationContext): string => ctx.df.currentUtcDateTime.toISOString();

/** act() with the flow's context and retry policy. */
export function* step<T>(f: Flow, activity: string, input: unknown): Generator<Task, T, unknown> {
  return yield* act<T>(f.ctx, activity, input, f.retry);
}

type RecordExtra = Partial<Omit<RecordStep, "rotationId" | "keyId" | "step" | "type" | "actor" | "at">>;

/** One ledger entry (and event, when named) for a step of this rotation. */
export function* rec(f: Flow, name: string, type: LedgerEntryType, event: RotationEventType | undefined, extra: RecordExtra = {}): Generator<Task, void, unknown> {
  const i = f.input;
  const entry: RecordStep = {
    rotationId: i.rotationId, keyId: i.keyId, step: name, type, actor: i.actor, at: nowIso(f.ctx), phase: f.phase, trigger: i.trigger,
    ...(i.reason ? { reason: i.reason } : {}), ...(event ? { event } : {}), ...extra,
  };
  yield* step(f, A.recordStep, entry);
}

export function setPhase(f: Flow, phase: RotationPhase, progress?: RotationStatus["progress"]): void {
  f.phase = phase;
  const status: RotationStatus = {
    rotationId: f.input.rotationId, phase, lock: "held", ...(progress ? { progress: { ...progress, ...(f.total !== undefined ? { total: f.total } : {}) } } : {}),
  };
  f.ctx.df.setCustomStatus(status);
}

/** An error a flow raises itself, in the format activity errors cross history in. */
export function flowError(family: Extract<ErrorFamily, "invariantViolation" | "invalidRequest">, code: string, message: string): Error {
  return historyError(family, code, `[keyrotor] [rotation] ${message}`);
}

const lockLost = (keyId: string, during: string): Error => flowError("invariantViolation", "LockLost", `the lease on ${keyId} was taken over during ${during}`);

/** Renews the lease between steps (a wait, a rewrap leg); a lost lease stops the flow. */
export function* keepLease(f: Flow, during: string): Generator<Task, void, unknown> {
  if (!(yield* renewHeld(f.ctx, f.input.keyId, f.input.rotationId, durationMs(f.input.leaseDuration)))) throw lockLost(f.input.keyId, during);
}

/** Waits for consumers to pick up the new version. The wait may outlast the lease, so it runs in
 * legs of half a lease with a renewal before each: the lock must never lapse while we hold the key. */
export function* waitPropagation(f: Flow): Generator<Task, void, unknown> {
  const ms = durationMs(f.input.propagationDelay);
  if (f.input.mode === "emergency" || ms === 0) return;
  const { ctx } = f;
  const leaseMs = durationMs(f.input.leaseDuration);
  const until = ctx.df.currentUtcDateTime.getTime() + ms;
  for (let now = ctx.df.currentUtcDateTime.getTime(); now < until; now = ctx.df.currentUtcDateTime.getTime()) {
    yield* keepLease(f, "the propagation wait");
    yield ctx.df.createTimer(new Date(now + Math.min(until - now, Math.max(1_000, Math.floor(leaseMs / 2)))));
  }
  yield* keepLease(f, "the propagation wait");
}

/** Lease renewals of this execution, as counts (they tell of a slow step, on success or failure). */
function renewalCounts(ctx: OrchestrationContext): Record<string, number> | undefined {
  const renewals = grantOf(ctx)?.renewals ?? 0;
  return renewals > 0 ? { leaseRenewals: renewals } : undefined;
}

/** Triggers whose starter does not wait for the lock decision (lib/orchestration/start.ts, decisionTimeoutMs 0). */
const UNATTENDED_TRIGGERS: ReadonlySet<string> = new Set(["schedule", "expiry-event"]);

/** lock → load context → body → Completed | Failed, releasing the lock in `finally`. */
export function* underLock(ctx: OrchestrationContext, input: RotationInput, body: FlowBody): Generator<Task, RotationOutput, unknown> {
  const f: Flow = { ctx, input, phase: "requested", retry: DEFAULT_RETRY };
  const base = { rotationId: input.rotationId, keyId: input.keyId };
  const leaseMs = durationMs(input.leaseDuration);
  ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "requested", lock: "pending" } satisfies RotationStatus);
  const floor = (yield* step<{ token: number }>(f, A.readFence, { keyId: input.keyId })).token;
  const lock = yield* acquireLock(ctx, input.keyId, input.rotationId, leaseMs, floor);
  if (!lock.granted) {
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "aborted", lock: "refused" } satisfies RotationStatus);
    if (UNATTENDED_TRIGGERS.has(input.trigger)) {
      // The timer and Event Grid started this and answered without waiting for the lock decision:
      // the refusal is recorded here, or nobody would ever see it. One entry per refused execution
      // (a later timer run starts the same rotationId again). A manual start's caller gets the 409.
      f.phase = "aborted";
      yield* rec(f, `refused@${nowIso(ctx)}`, "Aborted", undefined, { details: { heldBy: lock.heldBy.owner } });
    }
    return { ...base, outcome: "refused", phase: "aborted", heldBy: lock.heldBy.owner };
  }
  setPhase(f, "locked");
  const token = lock.lease.token;
  try {
    if (token !== undefined) {
      // Record the grant where activities check it before the first step that changes anything.
      holdGrant(ctx, { keyId: input.keyId, owner: input.rotationId, token, leaseMs, renewedAt: ctx.df.currentUtcDateTime.getTime(), renewals: 0 });
      yield* step(f, A.claimFence, { keyId: input.keyId, owner: input.rotationId, token });
    }
    if (lock.brokenFrom) {
      yield* rec(f, "lockBroken", "LockBroken", "LockBroken", {
        details: { previousOwner: lock.brokenFrom.owner, previousSince: lock.brokenFrom.since, previousLeaseUntil: lock.brokenFrom.leaseUntil },
      });
    }
    yield* rec(f, "requested", input.mode === "emergency" ? "EmergencyRequested" : "RotationRequested", undefined);
    yield* rec(f, "locked", "LockAcquired", "RotationStarted");
    const kc = yield* step<RotationContextView>(f, A.loadRotationContext, { keyId: input.keyId, rotationId: input.rotationId });
    f.retry = { ...DEFAULT_RETRY, maxAttempts: kc.policy.maxAttempts };
    const done = yield* body(f, kc);
    const renewals = renewalCounts(ctx);
    const result = renewals ? { ...done, counts: { ...(done.counts ?? {}), ...renewals } } : done;
    setPhase(f, "completed");
    yield* rec(f, "completed", "Completed", "RotationCompleted", {
      ...(result.versionBefore ? { versionBefore: result.versionBefore } : {}),
      ...(result.versionAfter ? { versionAfter: result.versionAfter } : {}),
      ...(result.counts ? { counts: result.counts } : {}),
    });
    yield* step(f, A.sealLedger, { rotationId: input.rotationId, keyId: input.keyId });
    return { ...base, ...result, outcome: "completed", phase: "completed" };
  } catch (err) {
    const failedIn = f.phase;
    const read = readHistoryError(err);
    const error = { code: read.code ?? read.family ?? "Internal", message: read.message };
    const kind = (input.keyId.split(":")[0] ?? "kek") as KeyKind;
    f.phase = "failed";
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: "failed", lock: "held" } satisfies RotationStatus);
    const renewals = renewalCounts(ctx);
    const counts = renewals ? { counts: renewals } : {};
    yield* rec(f, "failed", "Failed", "RotationFailed", { error, ...counts, details: { failedPhase: failedIn, safeNext: safeNextStep(failedIn, kind) } });
    return { ...base, ...counts, outcome: "failed", phase: failedIn, error };
  } finally {
    dropGrant(ctx);
    yield* releaseLock(ctx, input.keyId, input.rotationId, token);
    yield* step(f, A.recordStep, {
      rotationId: input.rotationId, keyId: input.keyId, step: "released", type: "LockReleased", actor: input.actor, at: nowIso(ctx), phase: f.phase,
    } satisfies RecordStep);
    ctx.df.setCustomStatus({ rotationId: input.rotationId, phase: f.phase, lock: "released" } satisfies RotationStatus);
  }
}
