// The rewrap of one KEK version, as two layers:
// - rewrapAll (inside the rotation orchestrator): plans (count + vault budget), then runs legs, each
//   a rewrapOrchestrator sub-orchestration; after every leg it shows progress as the rotation's
//   custom status, writes a RewrapProgress ledger entry and renews the lease. Legs are sized so a
//   pass has about `targetLegs` of them, whatever the number of DEKs.
// - rewrapOrchestrator: owns the vault budget. It runs waves of range activities; each activity
//   gets an equal share of the current rate and the same time slice, so a wave ends together. An
//   AIMD controller on the 429s each wave reports sets how many budget permits are open. After
//   `rangesPerEpisode` activities it continues as new, carrying the queue of tenant cursors, the
//   totals and the AIMD level: no instance's history grows with the number of DEKs.
// Time only from context.df.currentUtcDateTime; ids and counts only in inputs/outputs/status.
import type { OrchestrationContext, Task } from "durable-functions";
import { historyError } from "../../domain/errors";
import { AimdController } from "../../domain/rateControl";
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from "../../domain/rotation";
import { retried } from "../flows/act";
import { DURABLE } from "../names";
import { currentRate, legSize, planWave, progressOf, sharePerRange } from "./plan";
import {
  addTotals, RewrapLegSchema, RewrapOptionsSchema, zeroTotals,
  type Cursor, type RangeOp, type RangeResult, type RewrapLegInput, type RewrapLegOutput, type RewrapOptionsInput, type RewrapPlan,
  type RewrapProgress, type RewrapState, type RewrapTotals, type TenantsPage,
} from "./types";

const ACTIVITY = DURABLE.activities.rewrapRange;
/** A wave with at most this share of its unwraps answered 429 holds its level (see AimdOptions.tolerance):
 * the first wave's connection set-up alone bunches ~1% of its calls past the vault's burst. */
const THROTTLE_TOLERANCE = 0.02;

/** The rewrap activity, retried while its failure is transient. The range carries its lock grant
 * itself (the parent lends it), so this is not the frame's fencing act(). */
const act = <T>(ctx: OrchestrationContext, input: unknown, retry: RetryPolicy): Generator<Task, T, unknown> => retried<T>(ctx, ACTIVITY, input, retry);

function failure(code: string, message: string): Error {
  return historyError("dependencyUnavailable", code, `[keyrotor] [rewrap] ${message}`);
}

// ---- the budget owner ---------------------------------------------------------------------------

/** One execution = one episode of at most `rangesPerEpisode` range activities. */
export function* rewrapOrchestrator(ctx: OrchestrationContext): Generator<Task, RewrapLegOutput | undefined, unknown> {
  const input = RewrapLegSchema.parse(ctx.df.getInput());
  const o = input.options;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: o.maxAttempts };
  const state: RewrapState = structuredClone(input.state);
  // Within a wave window every 429 is a fresh signal (the wave ran at the level the last one set).
  const aimd = new AimdController({ min: 1, max: o.maxSlots, initial: state.aimd.level, increase: 1, decreaseFactor: 0.5, cooldownMs: 0, tolerance: THROTTLE_TOLERANCE });
  const legOver = (): boolean => ctx.df.currentUtcDateTime.getTime() >= Date.parse(input.legEndsAt) || state.totals.rewrapped >= input.legUntilRewrapped;
  let ranges = 0;
  while (ranges < o.rangesPerEpisode) {
    if (!state.tenantsDone && state.queue.length < aimd.current * o.tenantsPerRange) {
      const page = yield* act<TenantsPage>(ctx, { op: "tenants", limit: o.tenantPage, ...(state.tenantsContinuation ? { continuation: state.tenantsContinuation } : {}) }, retry);
      state.queue.push(...page.tenants.map((tenant) => ({ tenant })));
      state.tenantsContinuation = page.continuation;
      state.tenantsDone = page.continuation === undefined;
      continue;
    }
    if (state.queue.length === 0) break;
    const wave = planWave(state.queue, Math.min(aimd.current, o.rangesPerEpisode - ranges), o.tenantsPerRange);
    const share = sharePerRange(currentRate(input.budgetPerSec, aimd.current, o.maxSlots), wave.ranges.length);
    const tasks = wave.ranges.map((cursors) => ctx.df.callActivity(ACTIVITY, {
      op: "range", rotationId: input.rotationId, kekKeyId: input.kekKeyId, newVersion: input.newVersion, cursors,
      sharePerSec: share, sliceMs: o.sliceMs, maxDeks: o.dekBatch, ...(input.fence ? { fence: input.fence } : {}),
    } satisfies RangeOp));
    const results = (yield ctx.df.Task.all(tasks)) as RangeResult[];
    ranges += tasks.length;
    const returned: Cursor[] = [];
    let failedAttempts = 0;
    for (const r of results) {
      state.totals = addTotals(state.totals, { ...r, ranges: 1 });
      const [first, ...others] = r.cursors;
      if (r.failed && first) {
        const attempts = (first.attempts ?? 0) + 1;
        if (attempts >= o.maxAttempts) throw failure(r.failed.code, `tenant ${first.tenant} failed ${attempts} times: ${r.failed.message}`);
        failedAttempts = Math.max(failedAttempts, attempts);
        returned.push({ ...first, attempts }, ...others);
      } else if (first) {
        const { attempts: _done, ...fresh } = first;
        returned.push(fresh, ...others);
      }
    }
    state.queue = [...wave.rest, ...returned];
    const throttled = results.reduce((s, r) => s + r.throttled, 0);
    aimd.report({ calls: results.reduce((s, r) => s + r.unwrapCalls, 0), throttled }, ctx.df.currentUtcDateTime.getTime());
    state.aimd = { level: aimd.current };
    state.lastWave = { slots: tasks.length, sharePerSec: Math.round(share * 10) / 10, throttled };
    ctx.df.setCustomStatus({ rewrapped: state.totals.rewrapped, throttled: state.totals.throttled, level: aimd.current, queued: state.queue.length });
    if (failedAttempts > 0) {
      const wait = retryDelayMs(failure("RangeFailed", "transient"), failedAttempts, retry) ?? retry.firstRetryMs;
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + wait));
    }
    if (legOver()) break;
  }
  const done = state.queue.length === 0 && state.tenantsDone;
  if (done || legOver()) return { state, done };
  ctx.df.continueAsNew({ ...input, state } satisfies RewrapLegInput);
  return undefined;
}

// ---- the pass, inside the rotation --------------------------------------------------------------

export interface RewrapRequest {
  rotationId: string;
  kekKeyId: string;
  newVersion: string;
  /** 1, 2, ...: a second pass catches DEKs that changed or arrived during the first. */
  pass: number;
  /** DEKs to rewrap, when the caller already counted them. */
  total?: number;
  options?: RewrapOptionsInput;
  /** The rotation's lock grant: every range activity carries it and is refused once it is stale. */
  fence?: { owner: string; token: number };
}

/** What the rotation lends the rewrap: its custom status, its ledger and its lease. */
export interface RewrapHooks {
  progress(p: RewrapProgress): void;
  /** One RewrapProgress ledger entry (idempotent by step). */
  checkpoint(step: string, counts: Record<string, number>): Generator<Task, void, unknown>;
  /** false = the lease was lost. */
  renewLease(): Generator<Task, boolean, unknown>;
}

export interface RewrapPassResult extends RewrapTotals {
  total: number;
  budgetPerSec: number;
}

/** Child ids `<parent>~<execution>~rewrap~<pass>~<leg>`: a rotation restarted under the same
 * instance id (a new execution) must never reuse the id of a leg its earlier run left running —
 * Azure Storage discards the start of a running instance and the parent would wait forever. The
 * execution tag is the orchestration's deterministic newGuid (derived from the instance id and the
 * replay-safe current time, so it is new for every execution and the same on every replay). The
 * `<parent>~` prefix is what breaking a lock lists to terminate the legs. */
export function legInstanceIds(ctx: OrchestrationContext, pass: number): (leg: number) => string {
  const execution = ctx.df.newGuid(ctx.df.instanceId).replace(/-/g, "").slice(0, 16);
  return (leg) => `${ctx.df.instanceId}~${execution}~rewrap~${pass}~${leg}`;
}

export function* rewrapAll(ctx: OrchestrationContext, req: RewrapRequest, hooks: RewrapHooks): Generator<Task, RewrapPassResult, unknown> {
  const options = RewrapOptionsSchema.parse(req.options ?? {});
  const retry: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: options.maxAttempts };
  const plan = yield* act<RewrapPlan>(ctx, { op: "plan", kekKeyId: req.kekKeyId, newVersion: req.newVersion, ...(req.total !== undefined ? { total: req.total } : {}) }, retry);
  const startedMs = ctx.df.currentUtcDateTime.getTime();
  const legDeks = legSize(plan.total, options.targetLegs, options.minLegDeks);
  let state: RewrapState = { queue: [], tenantsDone: false, totals: zeroTotals(), aimd: { level: options.maxSlots } };
  hooks.progress(progressOf(state.totals, plan.total, startedMs, startedMs));
  const legIds = legInstanceIds(ctx, req.pass);
  for (let leg = 0; ; leg++) {
    const legEndsAt = new Date(ctx.df.currentUtcDateTime.getTime() + options.maxLegMs).toISOString();
    // The leg shows its progress after every wave (its custom status) while this orchestration only
    // waits: naming the leg and the pass's start lets the status view report that progress and a
    // rate (lib/orchestration/status.ts) instead of 0 until the leg ends.
    hooks.progress({ ...progressOf(state.totals, plan.total, startedMs, ctx.df.currentUtcDateTime.getTime()), leg: legIds(leg), startedAt: new Date(startedMs).toISOString() });
    const out = (yield ctx.df.callSubOrchestrator(DURABLE.orchestrators.rewrap, {
      rotationId: req.rotationId, kekKeyId: req.kekKeyId, newVersion: req.newVersion, budgetPerSec: plan.budgetPerSec, options, state, legEndsAt,
      legUntilRewrapped: state.totals.rewrapped + legDeks, ...(req.fence ? { fence: req.fence } : {}),
    } satisfies RewrapLegInput, legIds(leg))) as RewrapLegOutput;
    state = out.state;
    const progress = progressOf(state.totals, plan.total, startedMs, ctx.df.currentUtcDateTime.getTime());
    hooks.progress(progress);
    if (out.done || (leg + 1) % options.ledgerEveryLegs === 0) {
      yield* hooks.checkpoint(`rewrap:${req.pass}:${leg}`, { ...state.totals, total: progress.total, perSec: Math.round(progress.perSec), slots: state.aimd.level });
    }
    if (!(yield* hooks.renewLease())) {
      throw historyError("invariantViolation", "LockLost", `[keyrotor] [rewrap] the lease on ${req.kekKeyId} was taken over during the rewrap`);
    }
    if (out.done) return { ...state.totals, total: plan.total, budgetPerSec: plan.budgetPerSec };
  }
}
