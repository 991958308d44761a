// The keyLock entity (one per keyId) and the orchestration side of the lease protocol. The rules
// live in lib/domain/rotation.ts; this file only moves state in and out of the entity.
import * as df from "durable-functions";
import type { EntityContext, OrchestrationContext, Task } from "durable-functions";
import { z } from "zod";
import { InvalidRequestError } from "../domain/errors";
import { forceRelease, lockEntityKey, release, renew, tryAcquire, type AcquireResult, type LockState } from "../domain/rotation";
import { DURABLE, LOCK_OPS } from "./names";

const AcquireInput = z.object({ owner: z.string().min(1), now: z.string().min(1), leaseUntil: z.string().min(1) });
const TryAcquireInput = AcquireInput.extend({ floor: z.number().int().min(0).optional() });
/** token: the grant being renewed or released (absent from callers that predate fencing tokens). */
const Token = z.number().int().positive().optional();
const RenewInput = AcquireInput.extend({ token: Token });
const ReleaseInput = z.object({ owner: z.string().min(1), token: Token });
/** A hand-broken lock (POST /api/locks/{keyId}/break): `actor` is who broke it, for the record. */
export const ForceReleaseInput = z.object({ expectedOwner: z.string().min(1), actor: z.string().min(1) });

/** The entity's body: one operation against the persisted LockState. */
export function keyLockOperation(context: EntityContext<LockState>): void {
  const state = context.df.getState(() => ({})) ?? {};
  const op = context.df.operationName;
  if (op === LOCK_OPS.tryAcquire) {
    const next = tryAcquire(state, TryAcquireInput.parse(context.df.getInput()));
    context.df.setState(next.state);
    context.df.return(next.result);
  } else if (op === LOCK_OPS.renew) {
    const next = renew(state, RenewInput.parse(context.df.getInput()));
    context.df.setState(next.state);
    context.df.return({ renewed: next.renewed, ...(next.heldBy ? { heldBy: next.heldBy } : {}) });
  } else if (op === LOCK_OPS.release) {
    const next = release(state, ReleaseInput.parse(context.df.getInput()));
    context.df.setState(next.state);
    context.df.return({ released: next.released });
  } else if (op === LOCK_OPS.forceRelease) {
    const next = forceRelease(state, ForceReleaseInput.parse(context.df.getInput()).expectedOwner);
    context.df.setState(next.state);
    context.df.return({ released: next.released, ...(next.holder ? { holder: next.holder } : {}) });
  } else if (op === "get") {
    context.df.return(state);
  } else {
    throw new InvalidRequestError("UnknownLockOperation", `[keyrotor] [lock] unknown operation "${String(op)}"`);
  }
}

export function lockEntityId(keyId: string): df.EntityId {
  return new df.EntityId(DURABLE.entities.keyLock, lockEntityKey(keyId));
}

function leaseFrom(ctx: OrchestrationContext, leaseMs: number): { now: string; leaseUntil: string } {
  const now = ctx.df.currentUtcDateTime;
  return { now: now.toISOString(), leaseUntil: new Date(now.getTime() + leaseMs).toISOString() };
}

/** `floor`: the highest token the key's fence row holds; the grant's token exceeds it. */
export function* acquireLock(ctx: OrchestrationContext, keyId: string, owner: string, leaseMs: number, floor?: number): Generator<Task, AcquireResult, unknown> {
  return (yield ctx.df.callEntity(lockEntityId(keyId), LOCK_OPS.tryAcquire, { owner, ...leaseFrom(ctx, leaseMs), ...(floor ? { floor } : {}) })) as AcquireResult;
}

/** `token`: the grant to renew; a lease granted again since (to anyone) is not renewed. */
export function* renewLock(ctx: OrchestrationContext, keyId: string, owner: string, leaseMs: number, token?: number): Generator<Task, boolean, unknown> {
  const r = (yield ctx.df.callEntity(lockEntityId(keyId), LOCK_OPS.renew, { owner, ...leaseFrom(ctx, leaseMs), ...(token !== undefined ? { token } : {}) })) as { renewed: boolean };
  return r.renewed;
}

export function* releaseLock(ctx: OrchestrationContext, keyId: string, owner: string, token?: number): Generator<Task, boolean, unknown> {
  const r = (yield ctx.df.callEntity(lockEntityId(keyId), LOCK_OPS.release, { owner, ...(token !== undefined ? { token } : {}) })) as { released: boolean };
  return r.released;
}
