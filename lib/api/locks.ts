// POST /api/locks/{keyId}/break: an Admin clears a key's lock by hand — only a dead one (its lease
// expired, or the orchestration holding it is terminal or gone), never a live rotation's. The break
// is written to the ledger (LockBroken: who, why, the old owner) before the entity is touched, and
// announced, so an auditor sees every hand-broken lock (invariant 1).
import { z } from "zod";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { Lease } from "../domain/rotation";
import type { Principal } from "../http/principal";
import { instanceIdFor } from "../orchestration/workflows";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";

export const BreakLockBody = z.strictObject({
  reason: z.string().trim().min(10, "must be at least 10 characters").max(500),
});
export type BreakLockBody = z.output<typeof BreakLockBody>;

const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);

export interface LockBroken {
  keyId: string;
  previousOwner: string;
  previousSince: string;
  previousLeaseUntil: string;
  /** Why it was dead: its lease had expired, or its orchestration was terminal (or purged). */
  because: "leaseExpired" | "ownerTerminal" | "ownerGone";
  /** true: the entity confirmed the lock is clear; false: the signal is queued (read GET again). */
  confirmed: boolean;
}

export interface BreakOptions {
  /** How long to wait for the entity to confirm (it is signalled, one-way). */
  confirmTimeoutMs?: number;
  pollMs?: number;
}

async function ownerStatus(client: RotationClient, owner: string): Promise<string | undefined> {
  try {
    return (await client.getStatus(instanceIdFor(owner)))?.runtimeStatus;
  } catch (err) {
    if (/404|not found/i.test((err as Error).message ?? "")) return undefined;
    throw err;
  }
}

/** The holder is dead when its lease is over or its orchestration is no longer running. */
async function deathOf(client: RotationClient, held: Lease, now: Date): Promise<LockBroken["because"] | undefined> {
  if (Date.parse(held.leaseUntil) <= now.getTime()) return "leaseExpired";
  const status = await ownerStatus(client, held.owner);
  if (status === undefined) return "ownerGone";
  return TERMINAL.has(status) ? "ownerTerminal" : undefined;
}

/** 404 when the key is not managed or not locked; 409 naming the holder while it is alive. */
export async function breakLock(s: ApiServices, client: RotationClient, who: Principal, keyId: string, body: BreakLockBody, opts: BreakOptions = {}): Promise<LockBroken> {
  parseKeyId(keyId);
  if (!(await s.inventory.get(keyId))) throw new InvalidRequestError("KeyNotManaged", `${keyId} is not in keyrotor's inventory`, { status: 404, field: "keyId" });
  if (!client.readLockState || !client.forceReleaseLock) throw new Error("[keyrotor] [locks] this durable client cannot read or signal lock entities");
  const held = (await client.readLockState(keyId))?.holder;
  if (!held) throw new InvalidRequestError("NotLocked", `${keyId} is not locked`, { status: 404, field: "keyId" });
  const now = s.clock.now();
  const because = await deathOf(client, held, now);
  if (!because) {
    throw new RotationConflictError("LockLive", `[keyrotor] [locks] ${keyId} is held by ${held.owner}, which is running and whose lease lasts until ${held.leaseUntil}; a live lock is never broken`, { runningRotationId: held.owner });
  }
  const details = { previousOwner: held.owner, previousSince: held.since, previousLeaseUntil: held.leaseUntil, because };
  // One entry per broken lease: a retried request records nothing new.
  await s.ledger.append({ keyId, entryId: `lock-break:${held.owner}:${held.since}`, type: "LockBroken", actor: who.name, reason: body.reason, at: now.toISOString(), details });
  await client.forceReleaseLock(keyId, held.owner, who.name);
  await notify(s, { type: "LockBroken", keyId, occurrenceId: `${keyId}@lock-break:${held.owner}:${held.since}`, details: { ...details, brokenBy: who.name } });
  const confirmed = await awaitCleared(client, keyId, held.owner, opts);
  return { keyId, ...details, confirmed };
}

async function awaitCleared(client: RotationClient, keyId: string, owner: string, opts: BreakOptions): Promise<boolean> {
  const deadline = Date.now() + (opts.confirmTimeoutMs ?? 5_000);
  for (;;) {
    if ((await client.readLockState!(keyId))?.holder?.owner !== owner) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 20));
  }
}
