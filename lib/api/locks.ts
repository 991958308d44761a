// POST /api/locks/break/{*keyId}: an Admin clears a key's lock by hand. A dead holder's (its
// orchestration terminal or gone, or its lease expired while it no longer runs) is cleared at once;
// a running holder's only on request (`terminateOwner: true`), and only after its orchestration and
// the rewrap legs it started are terminated: a holder left running would go on writing. The break
// is written to the ledger (LockBroken: who, why, the old owner) before anything is touched, and
// announced, so an auditor sees every hand-broken lock (one rotation per key at a time; breaking the lock by hand
// is audited). Steps of the old holder still
// in flight are refused by the fencing token once the key is granted again (every mutating step checks its grant).
import { z } from "zod";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { Lease } from "../domain/rotation";
import type { Principal } from "../http/principal";
import { retireGrant } from "../orchestration/fence";
import { instanceIdFor } from "../orchestration/workflows";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";

export const BreakLockBody = z.strictObject({
  reason: z.string().trim().min(10, "must be at least 10 characters").max(500),
  /** The holder is still running: terminate it and the sub-orchestrations it started first. */
  terminateOwner: z.boolean().optional(),
});
export type BreakLockBody = z.output<typeof BreakLockBody>;

const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);

export interface LockBroken {
  keyId: string;
  previousOwner: string;
  previousSince: string;
  previousLeaseUntil: string;
  /** Why it could be cleared: its lease had expired (and it no longer ran), its orchestration was
   * terminal (or purged), or it was running and was terminated by this request. */
  because: "leaseExpired" | "ownerTerminal" | "ownerGone" | "ownerTerminated";
  /** Orchestration instances this request terminated: the holder and the legs it had running. */
  terminated: string[];
  /** true: the entity confirmed the lock is clear; false: the signal is queued (read GET again). */
  confirmed: boolean;
}

export interface BreakOptions {
  /** How long to wait for the entity to confirm (it is signalled, one-way). */
  confirmTimeoutMs?: number;
  /** How long to wait for terminated instances to stop (termination is queued, too). */
  terminateTimeoutMs?: number;
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

/** Why the holder may be cleared without terminating anything; undefined while it runs (an expired
 * lease does not stop a running orchestration). */
async function deathOf(client: RotationClient, held: Lease, now: Date): Promise<Exclude<LockBroken["because"], "ownerTerminated"> | undefined> {
  const status = await ownerStatus(client, held.owner);
  if (status !== undefined && !TERMINAL.has(status)) return undefined;
  if (Date.parse(held.leaseUntil) <= now.getTime()) return "leaseExpired";
  return status === undefined ? "ownerGone" : "ownerTerminal";
}

/** 404 when the key is not managed or not locked; 409 naming the holder while it is alive. */
export async function breakLock(s: ApiServices, client: RotationClient, who: Principal, keyId: string, body: BreakLockBody, opts: BreakOptions = {}): Promise<LockBroken> {
  parseKeyId(keyId);
  const row = await s.inventory.get(keyId);
  if (!row) throw new InvalidRequestError("KeyNotManaged", `${keyId} is not in keyrotor's inventory`, { status: 404, field: "keyId" });
  keyId = row.key.keyId; // the lock is the inventory's (canonical) spelling's
  if (!client.readLockState || !client.forceReleaseLock) throw new Error("[keyrotor] [locks] this durable client cannot read or signal lock entities");
  const held = (await client.readLockState(keyId))?.holder;
  if (!held) throw new InvalidRequestError("NotLocked", `${keyId} is not locked`, { status: 404, field: "keyId" });
  const now = s.clock.now();
  const because: LockBroken["because"] | undefined = (await deathOf(client, held, now)) ?? (body.terminateOwner ? "ownerTerminated" : undefined);
  if (!because) {
    throw new RotationConflictError("LockLive", `[keyrotor] [locks] ${keyId} is held by ${held.owner}, which is still running (lease until ${held.leaseUntil}); a running holder's lock is broken only with terminateOwner: true, which terminates it and the rewrap legs it started first`, { runningRotationId: held.owner });
  }
  const details = { previousOwner: held.owner, previousSince: held.since, previousLeaseUntil: held.leaseUntil, because };
  // One entry per broken lease: a retried request records nothing new.
  await s.ledger.append({ keyId, entryId: `lock-break:${held.owner}:${held.since}`, type: "LockBroken", actor: who.name, reason: body.reason, at: now.toISOString(), details });
  const terminated = await stopOwner(client, held.owner, because === "ownerTerminated", `lock on ${keyId} broken by ${who.name}: ${body.reason}`, opts);
  // Steps the old holder left queued are refused from now on, not only from the next grant.
  if (s.fences && held.token !== undefined) await retireGrant(s.fences, keyId, held.owner, held.token);
  await client.forceReleaseLock(keyId, held.owner, who.name);
  await notify(s, { type: "LockBroken", keyId, occurrenceId: `${keyId}@lock-break:${held.owner}:${held.since}`, details: { ...details, brokenBy: who.name } });
  const confirmed = await awaitCleared(client, keyId, held.owner, opts);
  return { keyId, ...details, terminated, confirmed };
}

/** Terminates the holder (when it runs) and then every sub-orchestration it left running (rewrap
 * legs: terminating a parent does not stop its children), and waits until all of them stopped.
 * A dead holder's running legs are stopped too. Returns the instances terminated. */
async function stopOwner(client: RotationClient, owner: string, running: boolean, reason: string, opts: BreakOptions): Promise<string[]> {
  const parent = instanceIdFor(owner);
  if (!client.terminate || !client.runningInstances) {
    if (running) throw new Error("[keyrotor] [locks] this durable client cannot terminate orchestrations");
    return [];
  }
  const terminated: string[] = [];
  if (running) {
    await client.terminate(parent, reason);
    terminated.push(parent);
    await awaitStopped(client, [parent], opts);
  }
  // Child ids are `<parent>~...` (./orchestration/rewrap); listed after the parent stopped, so it
  // starts no new one meanwhile.
  const children = (await client.runningInstances(`${parent}~`)).filter((id) => id !== parent);
  for (const child of children) await client.terminate(child, reason);
  await awaitStopped(client, children, opts);
  return [...terminated, ...children];
}

async function awaitStopped(client: RotationClient, instances: string[], opts: BreakOptions): Promise<void> {
  const deadline = Date.now() + (opts.terminateTimeoutMs ?? 30_000);
  let left = instances;
  while (left.length > 0) {
    const statuses = await Promise.all(left.map((id) => client.getStatus(id)));
    left = left.filter((_, i) => {
      const status = statuses[i]?.runtimeStatus;
      return status !== undefined && !TERMINAL.has(status);
    });
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new RotationConflictError("OwnerStillRunning", `[keyrotor] [locks] ${left.join(", ")} did not stop in time after being terminated; the lock was not cleared: retry the request`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 20));
  }
}

async function awaitCleared(client: RotationClient, keyId: string, owner: string, opts: BreakOptions): Promise<boolean> {
  const deadline = Date.now() + (opts.confirmTimeoutMs ?? 5_000);
  for (;;) {
    if ((await client.readLockState!(keyId))?.holder?.owner !== owner) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 20));
  }
}
