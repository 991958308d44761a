// POST /api/rotations/rollback/{rotationId}: re-promote the version a rotation replaced, within the
// policy's rollbackWindow, through the rollback workflow (same lock as rotations). The rotation is
// found in the ledger (the permanent record; durable instances are purged), so a rollback works for
// as long as its window is open, whatever happened to the instance.
//
// The version re-promoted is exactly the one the rotation replaced (its Promoted entry's
// versionBefore), pinned in the workflow's input, never "the newest secondary"; a revoked or retired
// version is never re-promoted (409). Rolling back an EMERGENCY rotation can put the compromised
// version back in service, so it needs what the emergency needed: a second person. It opens an
// approval request that a different Approver approves (POST /api/rotations/approve/{id}); the
// rollback starts with that approval (lib/api/approve.ts).
import { z } from "zod";
import { MIN_REASON_LENGTH, openEmergency } from "../domain/approval";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { rotationIds, type ManagedKey } from "../domain/keys";
import { durationMs } from "../domain/rotation";
import { entryIdFor } from "../orchestration/activities";
import { DURABLE } from "../orchestration/names";
import { startRotation, type StartOptions } from "../orchestration/start";
import type { LedgerEntry } from "../ports";
import type { Principal } from "../http/principal";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";
import { requestId, statusUrl } from "./rotations";
import { approvalWindowMs } from "./services";

export const RollbackBody = z.strictObject({
  reason: z.string().trim().min(MIN_REASON_LENGTH, `must be at least ${MIN_REASON_LENGTH} characters`).max(500),
});
export type RollbackBody = z.output<typeof RollbackBody>;

export interface RollbackAccepted {
  rotationId: string;
  rollbackOf: string;
  /** pendingApproval: the rollback of an emergency waits for a second person. */
  status: "running" | "pendingApproval";
  statusUrl: string;
  /** The version the rotation made primary, and the one it re-promotes. */
  versionBefore: string;
  versionAfter: string;
  approveBy?: string;
}

/** keyIds never contain "@"; every rotationId is `<keyId>@<suffix>`. */
export function keyIdOfRotation(rotationId: string): string | undefined {
  const at = rotationId.indexOf("@");
  return at > 0 ? rotationId.slice(0, at) : undefined;
}

/** Deterministic: posting the same rollback twice finds the first one. */
export function rollbackId(rotationId: string): string {
  const keyId = keyIdOfRotation(rotationId) ?? rotationId;
  return rotationIds.rollback(keyId, rotationId);
}

const notFound = (rotationId: string) => new InvalidRequestError("NotFound", `no rotation ${rotationId} that promoted a version`, { status: 404, field: "rotationId" });

interface RotationRecord {
  promoted?: LedgerEntry;
  emergency: boolean;
  /** Approval requests already opened for rolling this rotation back (ids, oldest first). */
  rollbackRequests: string[];
}

/** What the ledger says about the rotation: its Promoted entry, whether it was an emergency, and
 * the rollback requests that name it. */
async function recordOf(s: ApiServices, keyId: string, rotationId: string): Promise<RotationRecord> {
  const r: RotationRecord = { emergency: false, rollbackRequests: [] };
  for await (const e of s.ledger.entries(keyId)) {
    if (e.rotationId === rotationId) {
      if (e.type === "Promoted") r.promoted = e;
      if (e.trigger === "emergency" || e.type === "EmergencyRequested") r.emergency = true;
    } else if (e.type === "RotationRequested" && e.rotationId && e.details?.["rollbackOf"] === rotationId && e.details["needsApproval"] === true) {
      r.rollbackRequests.push(e.rotationId);
    }
  }
  return r;
}

/** The version to re-promote: exactly the one the rotation replaced, still in the key, and neither
 * revoked nor retired. */
function replacedVersion(key: ManagedKey, rotationId: string, version: string): void {
  const v = key.versions.find((x) => x.version === version);
  if (!v) throw new RotationConflictError("VersionGone", `[keyrotor] [rollback] ${rotationId} replaced ${version}, which ${key.keyId} no longer has`);
  if (v.state === "revoked" || v.state === "retired") {
    throw new RotationConflictError(
      v.state === "revoked" ? "VersionRevoked" : "VersionRetired",
      `[keyrotor] [rollback] ${rotationId} replaced ${version}, which is ${v.state}: a rollback never re-promotes a ${v.state} version; rotate again instead`,
    );
  }
}

/** 404 unknown rotation (or one that never promoted), 410 after the rollback window, 409 when a
 * later rotation superseded it, the version it replaced is revoked or retired, or the key's lock is
 * held (error.rotationId names the holder). 202 running, or 202 pendingApproval for an emergency. */
export async function requestRollback(s: ApiServices, client: RotationClient, who: Principal, rotationId: string, body: RollbackBody, opts: StartOptions = {}): Promise<RollbackAccepted> {
  const keyId = keyIdOfRotation(rotationId);
  const row = keyId ? await s.inventory.get(keyId) : undefined;
  const record = row && keyId ? await recordOf(s, keyId, rotationId) : undefined;
  const promoted = record?.promoted;
  if (!row || !keyId || !record || !promoted?.versionAfter || !promoted.versionBefore) throw notFound(rotationId);
  const { key } = row;
  if (key.primaryVersion !== promoted.versionAfter) {
    throw new RotationConflictError("Superseded", `[keyrotor] [rollback] ${rotationId} made ${promoted.versionAfter} primary, but ${key.keyId}'s primary is now ${key.primaryVersion ?? "none"}`);
  }
  replacedVersion(key, rotationId, promoted.versionBefore);
  const policy = key.policyId !== undefined ? (await s.policies.get(key.tenant, key.policyId))?.policy : undefined;
  if (!policy) throw new InvalidRequestError("NoPolicy", `${keyId} has no policy, so no rollback window`, { field: "rotationId" });
  const now = s.clock.now();
  const closes = Date.parse(promoted.at) + durationMs(policy.rollbackWindow);
  if (now.getTime() > closes) {
    throw new InvalidRequestError("RollbackWindowClosed", `the rollback window of ${rotationId} (${policy.rollbackWindow}) closed at ${new Date(closes).toISOString()}`, { status: 410 });
  }
  const versions = { versionBefore: promoted.versionAfter, versionAfter: promoted.versionBefore };
  if (record.emergency) return requestEmergencyRollback(s, who, { keyId, rotationId, reason: body.reason, now, record, ...versions });
  const held = (await client.readLockState?.(keyId))?.holder;
  const id = rollbackId(rotationId);
  if (held && held.owner !== id && Date.parse(held.leaseUntil) > now.getTime()) {
    throw new RotationConflictError("LockHeld", `[keyrotor] [rollback] ${keyId} is locked by ${held.owner}`, { runningRotationId: held.owner });
  }
  // The workflow's own "requested" step has this entryId, so the request is recorded once, with the
  // rotation it rolls back.
  await s.ledger.append({
    keyId, entryId: entryIdFor(id, "requested"), type: "RotationRequested", rotationId: id, trigger: "manual", actor: who.name, reason: body.reason,
    at: now.toISOString(), details: { actorId: who.id, rollbackOf: rotationId, ...versions },
  });
  const input = { rotationId: id, keyId, trigger: "manual" as const, actor: who.name, reason: body.reason, rollbackTo: versions.versionAfter, rollbackFrom: versions.versionBefore };
  await startRotation(client, input, { ...opts, orchestrator: DURABLE.orchestrators.rollback });
  return { rotationId: id, rollbackOf: rotationId, status: "running", statusUrl: statusUrl(id), ...versions };
}

/** The rollback of an emergency: an approval request, like the emergency's own. Posting it again
 * while a request is open answers that request. */
async function requestEmergencyRollback(
  s: ApiServices, who: Principal,
  r: { keyId: string; rotationId: string; reason: string; now: Date; record: RotationRecord; versionBefore: string; versionAfter: string },
): Promise<RollbackAccepted> {
  const versions = { versionBefore: r.versionBefore, versionAfter: r.versionAfter };
  for (const open of [...r.record.rollbackRequests].reverse()) {
    const req = (await s.approvals.get(open))?.request;
    if (req?.status === "pendingApproval" && r.now.getTime() <= Date.parse(req.approveBy)) {
      return { rotationId: open, rollbackOf: r.rotationId, status: "pendingApproval", statusUrl: statusUrl(open), approveBy: req.approveBy, ...versions };
    }
  }
  // A fresh id per request: one whose window passed unapproved does not block a new one.
  const id = `${rollbackId(r.rotationId)}:${requestId(r.now)}`;
  const req = openEmergency({
    rotationId: id, keyId: r.keyId, requestedBy: { id: who.id, name: who.name }, reason: r.reason, revokeOld: false, now: r.now, windowMs: approvalWindowMs(s.settings),
    rollbackOf: { rotationId: r.rotationId, ...versions },
  });
  await s.approvals.create(req);
  await s.ledger.append({
    keyId: r.keyId, entryId: entryIdFor(id, "requested"), type: "RotationRequested", rotationId: id, trigger: "manual", actor: who.name, reason: req.reason,
    at: req.requestedAt, details: { actorId: who.id, rollbackOf: r.rotationId, ...versions, needsApproval: true, approveBy: req.approveBy },
  });
  await notify(s, { type: "EmergencyRequested", keyId: r.keyId, occurrenceId: id, rotationId: id, details: { requestedBy: who.name, approveBy: req.approveBy, rollbackOf: r.rotationId } });
  return { rotationId: id, rollbackOf: r.rotationId, status: "pendingApproval", statusUrl: statusUrl(id), approveBy: req.approveBy, ...versions };
}
