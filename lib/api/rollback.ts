// POST /api/rotations/{rotationId}/rollback: re-promote the version a rotation replaced, within the
// policy's rollbackWindow, through the rollback workflow (same lock as rotations). The rotation is
// found in the ledger (the permanent record; durable instances are purged), so a rollback works for
// as long as its window is open, whatever happened to the instance.
import { z } from "zod";
import { MIN_REASON_LENGTH } from "../domain/approval";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { durationMs } from "../domain/rotation";
import { entryIdFor } from "../orchestration/activities";
import { DURABLE } from "../orchestration/names";
import { startRotation, type StartOptions } from "../orchestration/start";
import type { LedgerEntry } from "../ports";
import type { Principal } from "../http/principal";
import type { ApiServices, RotationClient } from "./ports";
import { statusUrl } from "./rotations";

export const RollbackBody = z.strictObject({
  reason: z.string().trim().min(MIN_REASON_LENGTH, `must be at least ${MIN_REASON_LENGTH} characters`).max(500),
});
export type RollbackBody = z.output<typeof RollbackBody>;

export interface RollbackAccepted {
  rotationId: string;
  rollbackOf: string;
  status: "running";
  statusUrl: string;
  /** The version the rotation made primary, and the one it re-promotes. */
  versionBefore: string;
  versionAfter: string;
}

/** keyIds never contain "@"; every rotationId is `<keyId>@<suffix>`. */
export function keyIdOfRotation(rotationId: string): string | undefined {
  const at = rotationId.indexOf("@");
  return at > 0 ? rotationId.slice(0, at) : undefined;
}

/** Deterministic: posting the same rollback twice finds the first one. */
export function rollbackId(rotationId: string): string {
  const keyId = keyIdOfRotation(rotationId) ?? rotationId;
  return `${keyId}@rollback:${rotationId.slice(keyId.length + 1)}`;
}

const notFound = (rotationId: string) => new InvalidRequestError("NotFound", `no rotation ${rotationId} that promoted a version`, { status: 404, field: "rotationId" });

async function promotedEntry(s: ApiServices, keyId: string, rotationId: string): Promise<LedgerEntry | undefined> {
  let found: LedgerEntry | undefined;
  for await (const e of s.ledger.entries(keyId)) if (e.rotationId === rotationId && e.type === "Promoted") found = e;
  return found;
}

/** 404 unknown rotation (or one that never promoted), 410 after the rollback window, 409 when a
 * later rotation superseded it or the key's lock is held (error.rotationId names the holder). */
export async function requestRollback(s: ApiServices, client: RotationClient, who: Principal, rotationId: string, body: RollbackBody, opts: StartOptions = {}): Promise<RollbackAccepted> {
  const keyId = keyIdOfRotation(rotationId);
  const row = keyId ? await s.inventory.get(keyId) : undefined;
  const promoted = row && keyId ? await promotedEntry(s, keyId, rotationId) : undefined;
  if (!row || !keyId || !promoted?.versionAfter || !promoted.versionBefore) throw notFound(rotationId);
  const { key } = row;
  if (key.primaryVersion !== promoted.versionAfter) {
    throw new RotationConflictError("Superseded", `[keyrotor] [rollback] ${rotationId} made ${promoted.versionAfter} primary, but ${key.keyId}'s primary is now ${key.primaryVersion ?? "none"}`);
  }
  const policy = key.policyId !== undefined ? (await s.policies.get(key.tenant, key.policyId))?.policy : undefined;
  if (!policy) throw new InvalidRequestError("NoPolicy", `${keyId} has no policy, so no rollback window`, { field: "rotationId" });
  const now = s.clock.now();
  const closes = Date.parse(promoted.at) + durationMs(policy.rollbackWindow);
  if (now.getTime() > closes) {
    throw new InvalidRequestError("RollbackWindowClosed", `the rollback window of ${rotationId} (${policy.rollbackWindow}) closed at ${new Date(closes).toISOString()}`, { status: 410 });
  }
  const held = (await client.readLockState?.(keyId))?.holder;
  const id = rollbackId(rotationId);
  if (held && held.owner !== id && Date.parse(held.leaseUntil) > now.getTime()) {
    throw new RotationConflictError("LockHeld", `[keyrotor] [rollback] ${keyId} is locked by ${held.owner}`, { runningRotationId: held.owner });
  }
  // The workflow's own "requested" step has this entryId, so the request is recorded once, with the
  // rotation it rolls back.
  await s.ledger.append({
    keyId, entryId: entryIdFor(id, "requested"), type: "RotationRequested", rotationId: id, trigger: "manual", actor: who.name, reason: body.reason,
    at: now.toISOString(), details: { rollbackOf: rotationId, versionBefore: promoted.versionAfter, versionAfter: promoted.versionBefore },
  });
  await startRotation(client, { rotationId: id, keyId, trigger: "manual", actor: who.name, reason: body.reason }, { ...opts, orchestrator: DURABLE.orchestrators.rollback });
  return { rotationId: id, rollbackOf: rotationId, status: "running", statusUrl: statusUrl(id), versionBefore: promoted.versionAfter, versionAfter: promoted.versionBefore };
}
