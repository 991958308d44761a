// POST /api/rotations/{rotationId}/approve: the second person's approval, effective only together
// with the start it authorises (an emergency rotation, or the rollback of one).
//
// Order of writes, and why it is crash-safe:
//   1. decideApproval (pure): every refusal (403, 410, 409, 400) before anything is written.
//   2. The key's lock is read: held by another rotation → 409 LockHeld, nothing written.
//   3. Claim: the request goes to `approving` (this approver) only if unchanged since read (ETag):
//      of two approvers racing, one wins; the same approver racing himself finds his own claim and
//      gets the same answer (step 4 onwards is idempotent).
//   4. Start (deterministic instance id, so a repeat finds the same instance). A refused start
//      (another rotation took the lock between 2 and 4) releases the claim with the claim's ETag:
//      the request is pending again and the ledger never saw an approval.
//   5. Ledger `Approved` (idempotent entryId) and the EmergencyApproved event (deterministic
//      messageId), then the request goes to `approved`.
// A crash after 3 leaves `approving` with no Approved entry: the same approver submitting again
// resumes at 4 (within the window; after it, only a start that already happened is recorded).
// A crash after 4 or 5 is resumed the same way; nothing is written twice.
import { confirmApproval, decideApproval, releaseClaim, type EmergencyRequest, type Person } from "../domain/approval";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { entryIdFor } from "../orchestration/activities";
import { DURABLE } from "../orchestration/names";
import { startRotation, type StartOptions } from "../orchestration/start";
import { instanceIdFor, type RotationOutput } from "../orchestration/workflows";
import type { StoredEmergency } from "../stores/approvals";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";
import { statusUrl } from "./routes";

export interface ApprovalAccepted {
  rotationId: string;
  status: "running";
  statusUrl: string;
  approvedBy: string;
  /** Set when the request authorised a rollback: the rotation it rolls back. */
  rollbackOf?: string;
}

const CLAIM_ATTEMPTS = 4;

function accepted(req: EmergencyRequest): ApprovalAccepted {
  return {
    rotationId: req.rotationId, status: "running", statusUrl: statusUrl(req.rotationId), approvedBy: req.approvedBy ?? "",
    ...(req.rollbackOf ? { rollbackOf: req.rollbackOf.rotationId } : {}),
  };
}

export async function approveRotation(
  s: ApiServices, client: RotationClient, who: Person, rotationId: string, opts: StartOptions = {}, body: { acceptDataLoss?: true; newDekVersions?: true } | undefined = {},
): Promise<ApprovalAccepted> {
  const acceptDataLoss = body?.acceptDataLoss === true;
  // The approval's flag travels with the start it authorises (rotation input → hierarchy emergency).
  const start: ApproveStart = body?.newDekVersions === true ? { ...opts, newDekVersions: true } : opts;
  for (let attempt = 1; ; attempt++) {
    const stored = await s.approvals.get(rotationId);
    if (!stored) throw new InvalidRequestError("NotFound", `no emergency request ${rotationId}`, { status: 404, field: "rotationId" });
    if (start.newDekVersions && stored.request.rollbackOf) {
      throw new InvalidRequestError("NewDekVersionsNotApplicable", "newDekVersions applies only to an emergency rotation, not to the rollback of one", { field: "newDekVersions" });
    }
    const now = s.clock.now();
    const decision = decideApproval(stored.request, { id: who.id, name: who.name }, now, { acceptDataLoss });
    if (decision.kind === "repeat") return repeat(s, client, stored, now, start);
    await refuseIfLocked(client, stored.request, now);
    let claimed: StoredEmergency;
    try {
      claimed = await s.approvals.update(decision.next, stored.etag);
    } catch (err) {
      // Someone wrote the request between our read and our claim: decide again on what is there now
      // (our own concurrent submission → repeat; another approver → AlreadyApproved).
      if (err instanceof RotationConflictError && attempt < CLAIM_ATTEMPTS) continue;
      if (err instanceof RotationConflictError) throw changedUnderUs(rotationId, err);
      throw err;
    }
    return effect(s, client, claimed, start);
  }
}

/** How an approval starts what it authorises: the starter's options and the approval's flags. */
type ApproveStart = StartOptions & { newDekVersions?: boolean };

function changedUnderUs(rotationId: string, cause: unknown): RotationConflictError {
  // Never the storage code (UpdateConditionNotSatisfied...): the caller may simply retry.
  return new RotationConflictError("ApprovalChanged", `[keyrotor] [approvals] ${rotationId} kept changing while it was being approved; read it and retry`, { cause });
}

/** The lock as the entity holds it now: a start that would be refused is refused before anything is
 * written. Step 4 still covers a lock taken after this read. */
async function refuseIfLocked(client: RotationClient, req: EmergencyRequest, now: Date): Promise<void> {
  const held = (await client.readLockState?.(req.keyId))?.holder;
  if (held && held.owner !== req.rotationId && Date.parse(held.leaseUntil) > now.getTime()) {
    throw new RotationConflictError("LockHeld", `[keyrotor] [approvals] ${req.keyId} is being rotated by ${held.owner}; approve again once it ends`, { runningRotationId: held.owner });
  }
}

/** The same approver again. Approved: the first answer, nothing written. Approving (a concurrent or
 * crashed first submission): finish it; after the window, only a start that already happened. */
async function repeat(s: ApiServices, client: RotationClient, stored: StoredEmergency, now: Date, opts: ApproveStart): Promise<ApprovalAccepted> {
  const req = stored.request;
  if (req.status === "approved") return accepted(req);
  if (now.getTime() <= Date.parse(req.approveBy)) return effect(s, client, stored, opts);
  // After the window nothing starts (not even again): a start that already happened is recorded.
  if (!(await started(client, req.rotationId))) {
    throw new InvalidRequestError("ApprovalExpired", `the approval window closed at ${req.approveBy} before the rotation started; request a new emergency rotation`, { status: 410 });
  }
  return effect(s, client, stored, opts, { start: false });
}

async function started(client: RotationClient, rotationId: string): Promise<boolean> {
  try {
    const st = await client.getStatus(instanceIdFor(rotationId));
    return st?.runtimeStatus !== undefined && (st.output as Partial<RotationOutput> | undefined)?.outcome !== "refused";
  } catch (err) {
    if (/404|not found/i.test(err instanceof Error ? err.message : String(err))) return false;
    throw err;
  }
}

/** Steps 4 and 5 for a claimed request (step 5 alone when the start is known to have happened). */
async function effect(s: ApiServices, client: RotationClient, claimed: StoredEmergency, opts: ApproveStart, how: { start: boolean } = { start: true }): Promise<ApprovalAccepted> {
  const req = claimed.request;
  try {
    if (how.start) await startFor(client, req, opts);
  } catch (err) {
    // Only a definite refusal releases the claim: after any other failure the start may have
    // happened, and the claim is what lets the approver's retry find and record it.
    if (err instanceof RotationConflictError && err.code === "LockHeld") await release(s, claimed);
    throw err;
  }
  await record(s, req, opts.newDekVersions === true);
  await confirm(s, claimed);
  return accepted(req);
}

async function release(s: ApiServices, claimed: StoredEmergency): Promise<void> {
  try {
    await s.approvals.update(releaseClaim(claimed.request), claimed.etag);
  } catch (err) {
    // A concurrent submission of the same approver released (or confirmed) it first.
    if (!(err instanceof RotationConflictError)) throw err;
  }
}

async function confirm(s: ApiServices, claimed: StoredEmergency): Promise<void> {
  try {
    await s.approvals.update(confirmApproval(claimed.request), claimed.etag);
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    // A concurrent submission of the same approver confirmed it first; anything else is a bug.
    const now = await s.approvals.get(claimed.request.rotationId);
    if (now?.request.status !== "approved" || now.request.approvedById !== claimed.request.approvedById) throw changedUnderUs(claimed.request.rotationId, err);
  }
}

function startFor(client: RotationClient, req: EmergencyRequest, opts: ApproveStart): Promise<unknown> {
  const dataLoss = req.dataLossAcceptedBy ? { dataLossAcceptedBy: req.dataLossAcceptedBy } : {};
  if (req.rollbackOf) {
    // The rollback workflow re-promotes exactly the version the emergency replaced (rollbackTo),
    // and only while the emergency's version is still primary (rollbackFrom).
    const input = {
      rotationId: req.rotationId, keyId: req.keyId, trigger: "manual" as const, actor: req.requestedBy, reason: req.reason,
      rollbackTo: req.rollbackOf.versionAfter, rollbackFrom: req.rollbackOf.versionBefore,
    };
    return startRotation(client, input, { ...opts, orchestrator: DURABLE.orchestrators.rollback });
  }
  return startRotation(client, {
    rotationId: req.rotationId, keyId: req.keyId, trigger: "emergency", actor: req.requestedBy, reason: req.reason, mode: "emergency", revokeOld: req.revokeOld,
    ...dataLoss, ...(req.compromisedVersion ? { compromisedVersion: req.compromisedVersion } : {}), ...(opts.newDekVersions ? { newDekVersions: true } : {}),
  }, opts);
}

/** The ledger entry and the event, each written once whatever the number of submissions. */
async function record(s: ApiServices, req: EmergencyRequest, newDekVersions = false): Promise<void> {
  const approvedBy = req.approvedBy ?? "";
  const dataLoss: Record<string, string> = req.dataLossAcceptedBy
    ? { dataLossAcceptedBy: req.dataLossAcceptedBy, dataLossAcceptedById: req.dataLossAcceptedById ?? req.dataLossAcceptedBy, dataLossAcceptedAt: req.dataLossAcceptedAt ?? req.approvedAt ?? "" }
    : {};
  await s.ledger.append({
    keyId: req.keyId, entryId: entryIdFor(req.rotationId, "approved"), type: "Approved", rotationId: req.rotationId, trigger: req.rollbackOf ? "manual" : "emergency",
    actor: approvedBy, reason: req.reason, at: req.approvedAt ?? s.clock.now().toISOString(),
    details: {
      actorId: req.approvedById ?? approvedBy, requestedBy: req.requestedBy, requestedById: req.requestedById ?? req.requestedBy, revokeOld: req.revokeOld,
      ...(req.rollbackOf ? { rollbackOf: req.rollbackOf.rotationId } : {}), ...dataLoss, ...(newDekVersions ? { newDekVersions: true } : {}),
    },
  });
  await notify(s, {
    type: "EmergencyApproved", keyId: req.keyId, occurrenceId: req.rotationId, rotationId: req.rotationId,
    details: { requestedBy: req.requestedBy, approvedBy, ...(req.rollbackOf ? { rollbackOf: req.rollbackOf.rotationId } : {}), ...dataLoss },
  });
}
