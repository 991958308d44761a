// The one way a flow calls an activity: act(). Retries only what is transient, on durable timers,
// and fences every mutating call with the lock grant the execution holds (a step fenced out by a newer grant acts no more).
import type { OrchestrationContext, Task } from "durable-functions";
import { historyError } from "../../domain/errors";
import { retryDelayMs, DEFAULT_RETRY, type RetryPolicy } from "../../domain/rotation";
import { FENCED_ACTIVITIES } from "../fence";
import { renewLock } from "../lock";

/** The grant an orchestration execution holds the key under. Kept per context (each replay builds
 * it again from the replayed grant), so act() fences every mutating call without each caller
 * passing it along. */
export interface Grant {
  keyId: string;
  owner: string;
  token: number;
  leaseMs: number;
  /** Orchestration time of the grant or the last renewal. */
  renewedAt: number;
  renewals: number;
}
const grants = new WeakMap<OrchestrationContext, Grant>();

export const grantOf = (ctx: OrchestrationContext): Grant | undefined => grants.get(ctx);
export const holdGrant = (ctx: OrchestrationContext, g: Grant): void => void grants.set(ctx, g);
/** Nothing after this acts under the grant or renews it. */
export const dropGrant = (ctx: OrchestrationContext): void => void grants.delete(ctx);

/** An activity call with bounded, classified retries: only transient failures are retried, with
 * exponential backoff on durable timers. A mutating activity (FENCED_ACTIVITIES) called under the
 * lock carries the lock's grant and starts with the lease renewed. */
export function* act<T>(ctx: OrchestrationContext, name: string, input: unknown, retry: RetryPolicy = DEFAULT_RETRY): Generator<Task, T, unknown> {
  const grant = grants.get(ctx);
  if (grant && FENCED_ACTIVITIES.has(name)) input = { ...(input as object), fence: yield* fenceFor(ctx, grant) };
  else if (grant && renewalDue(ctx, grant)) yield* renewGrant(ctx, grant); // keeps the lease through long runs of reads (a lost one stops the next change)
  return yield* retried<T>(ctx, name, input, retry);
}

/** An activity call retried on durable timers while its failure is transient (retryDelayMs). */
export function* retried<T>(ctx: OrchestrationContext, name: string, input: unknown, retry: RetryPolicy): Generator<Task, T, unknown> {
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
    throw historyError("invariantViolation", "LockLost", `[keyrotor] [rotation] the lease on ${g.keyId} was taken over before a step that changes it`);
  }
  return { owner: g.owner, token: g.token };
}

const renewalDue = (ctx: OrchestrationContext, g: Grant): boolean => ctx.df.currentUtcDateTime.getTime() - g.renewedAt >= g.leaseMs / 3;

/** Renews the lease of this execution's grant (a wait or a rewrap leg between steps). */
export function* renewHeld(ctx: OrchestrationContext, keyId: string, owner: string, leaseMs: number): Generator<Task, boolean, unknown> {
  const g = grants.get(ctx);
  return g ? yield* renewGrant(ctx, g) : yield* renewLock(ctx, keyId, owner, leaseMs);
}
