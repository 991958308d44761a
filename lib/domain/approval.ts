// Two-person rule for emergency rotations (and for rolling one back): an Operator asks, a different
// Approver approves within the approval window. "No single click can revoke or invalidate keys"
// (the user's operations notes). People are compared by their stable id (the principal's object
// id), never by the display name, which two people can share and one person can change.
import { InvalidRequestError, RotationConflictError } from "./errors";

/**
 * pendingApproval → approving → approved, or approving → pendingApproval when the start it
 * authorises is refused. `approving` is the approver's claim: it keeps a second approver out while
 * the start is attempted, and becomes `approved` only once the rotation has started. An approval is
 * effective together with its start, never alone (a refused start leaves the request pending).
 */
export type ApprovalStatus = "pendingApproval" | "approving" | "approved";

/** A person as the two-person rule sees them: `id` is compared, `name` is shown. */
export interface Person {
  id: string;
  name: string;
}

/** What an approved request starts besides an emergency rotation: the rollback of an emergency
 * (which can re-promote the compromised version), pinned to the versions the rotation swapped. */
export interface RollbackOf {
  /** The emergency rotation being rolled back. */
  rotationId: string;
  /** The version that rotation made primary (primary now; demoted by the rollback). */
  versionBefore: string;
  /** The version that rotation replaced: exactly this one is re-promoted. */
  versionAfter: string;
}

export interface EmergencyRequest {
  /** The rotationId the approved rotation will run under. */
  rotationId: string;
  keyId: string;
  /** Display name of the requester. */
  requestedBy: string;
  /** Stable id of the requester (what self-approval is checked against). Requests recorded before
   * ids existed lack it: their name was their id. */
  requestedById?: string;
  requestedAt: string;
  reason: string;
  revokeOld: boolean;
  /** Where the request came from: the API, or an external compromise signal. */
  source: "api" | "compromise-signal";
  /** A bounded, scrubbed reference to the compromise evidence (lib/domain/evidence.ts), never the
   * evidence itself. */
  evidence?: string;
  /** The version reported compromised: the key's primary when the emergency was requested. The
   * rotation revokes exactly this one, even if other rotations promoted newer versions meanwhile. */
  compromisedVersion?: string;
  /** Set when this request authorises a rollback instead of a rotation. */
  rollbackOf?: RollbackOf;
  /** Approval deadline (requestedAt + window). */
  approveBy: string;
  status: ApprovalStatus;
  /** Display name of the approver. */
  approvedBy?: string;
  approvedById?: string;
  approvedAt?: string;
  /** Only ever set together with the first approval: who accepted data loss, and when. */
  dataLossAcceptedBy?: string;
  dataLossAcceptedById?: string;
  dataLossAcceptedAt?: string;
}

export const MIN_REASON_LENGTH = 10;

export function openEmergency(args: {
  rotationId: string; keyId: string; requestedBy: Person; reason: string; revokeOld: boolean; now: Date; windowMs: number;
  source?: EmergencyRequest["source"]; evidence?: string; compromisedVersion?: string; rollbackOf?: RollbackOf;
}): EmergencyRequest {
  if (args.reason.trim().length < MIN_REASON_LENGTH) {
    throw new InvalidRequestError("ReasonTooShort", `reason must be at least ${MIN_REASON_LENGTH} characters`, { field: "reason" });
  }
  return {
    rotationId: args.rotationId,
    keyId: args.keyId,
    requestedBy: args.requestedBy.name,
    requestedById: args.requestedBy.id,
    requestedAt: args.now.toISOString(),
    reason: args.reason.trim(),
    revokeOld: args.revokeOld,
    source: args.source ?? "api",
    ...(args.evidence ? { evidence: args.evidence } : {}),
    ...(args.compromisedVersion ? { compromisedVersion: args.compromisedVersion } : {}),
    ...(args.rollbackOf ? { rollbackOf: { ...args.rollbackOf } } : {}),
    approveBy: new Date(args.now.getTime() + args.windowMs).toISOString(),
    status: "pendingApproval",
  };
}

/**
 * The form in which two ids are compared: NFKC, default-ignorable code points (zero-width joiners
 * and spaces, soft hyphens...) removed, whitespace trimmed and collapsed, case folded. Object ids
 * (GUIDs) are compared case-insensitively, so one person spelt "AAAA..." and "aaaa..." is one person
 * even in requests stored before principal.ts lower-cased them; a local name-only id ("alice",
 * "alice ", "ａｌｉｃｅ", "ali\u200dce") is one person too. Folding can only merge two ids, never split
 * one, so at worst it refuses an approval, never lets a requester approve their own request.
 */
export function canonicalPersonId(id: string): string {
  return id.normalize("NFKC").replace(/\p{Default_Ignorable_Code_Point}/gu, "").replace(/\s+/gu, " ").trim().toLowerCase().normalize("NFKC");
}

/** Whether two ids name the same person (canonicalPersonId). */
export function samePerson(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && canonicalPersonId(a) === canonicalPersonId(b);
}

export const requesterId = (req: EmergencyRequest): string => req.requestedById ?? req.requestedBy;
export const approverId = (req: EmergencyRequest): string | undefined => req.approvedById ?? req.approvedBy;

/** What an approval submission amounts to. `claim`: write `next` (status approving) if the request
 * is unchanged, then start. `repeat`: the same approver again, the request already theirs; the
 * caller answers as the first submission did and changes nothing it has not already changed. */
export type ApprovalDecision = { kind: "claim"; next: EmergencyRequest } | { kind: "repeat"; request: EmergencyRequest };

/**
 * Decides an approval; throws 400 when acceptDataLoss does not apply, 403 on self-approval, 410
 * when late, 409 when someone else approved it, when acceptDataLoss comes after the approval, or
 * when the request has no requester id (RequesterUnidentified: stored before ids existed).
 * Pure: every refusal happens before anything is written.
 */
export function decideApproval(req: EmergencyRequest, approver: Person, now: Date, opts: { acceptDataLoss?: boolean } = {}): ApprovalDecision {
  const acceptDataLoss = opts.acceptDataLoss === true;
  if (acceptDataLoss && !req.revokeOld) {
    throw new InvalidRequestError("DataLossNotApplicable", "acceptDataLoss applies only to an emergency rotation with revokeOld", { field: "acceptDataLoss" });
  }
  if (req.status !== "pendingApproval") {
    if (!samePerson(approverId(req), approver.id)) {
      // `approving` too: the claim keeps everyone else out until its start is decided (a claim left
      // by a crash is finished by the same approver submitting again, or lapses with the window).
      const how = req.status === "approved" ? "was already approved" : "is being approved";
      throw new RotationConflictError("AlreadyApproved", `${req.rotationId} ${how} by ${req.approvedBy ?? "someone else"}`, { runningRotationId: req.rotationId });
    }
    // The data-loss acceptance is part of the approval the rotation started with; a later one
    // would change nothing the running (or finished) rotation reads, so it is refused, not recorded.
    if (acceptDataLoss && !req.dataLossAcceptedById) {
      throw new RotationConflictError(
        "DataLossAfterApproval",
        `acceptDataLoss must come with the first approval of ${req.rotationId}; request a new emergency rotation to accept data loss`,
      );
    }
    return { kind: "repeat", request: req };
  }
  if (req.requestedById === undefined) {
    // Recorded before ids existed: its requester is known only by a display name, which cannot be
    // compared with the approver's object id (the requester themselves would pass as "different").
    throw new RotationConflictError(
      "RequesterUnidentified",
      `${req.rotationId} was requested before keyrotor recorded requester ids, so a different approver cannot be proven; request a new emergency rotation`,
    );
  }
  if (samePerson(approver.id, req.requestedById)) {
    throw new InvalidRequestError("SelfApproval", "an emergency must be approved by a different person than the requester", { status: 403 });
  }
  if (now.getTime() > Date.parse(req.approveBy)) {
    throw new InvalidRequestError("ApprovalExpired", `the approval window closed at ${req.approveBy}; request a new emergency rotation`, { status: 410 });
  }
  const at = now.toISOString();
  return {
    kind: "claim",
    next: {
      ...req, status: "approving", approvedBy: approver.name, approvedById: approver.id, approvedAt: at,
      ...(acceptDataLoss ? { dataLossAcceptedBy: approver.name, dataLossAcceptedById: approver.id, dataLossAcceptedAt: at } : {}),
    },
  };
}

/** The start the claim authorised has begun: the approval is effective. */
export function confirmApproval(req: EmergencyRequest): EmergencyRequest {
  if (req.status === "pendingApproval") throw new RotationConflictError("NotClaimed", `${req.rotationId} has no approval to confirm`);
  return { ...req, status: "approved" };
}

/** The start the claim authorised was refused: back to pending, as if nobody had approved. */
export function releaseClaim(req: EmergencyRequest): EmergencyRequest {
  const {
    approvedBy: _by, approvedById: _byId, approvedAt: _at, dataLossAcceptedBy: _dl, dataLossAcceptedById: _dlId, dataLossAcceptedAt: _dlAt, ...rest
  } = req;
  return { ...rest, status: "pendingApproval" };
}
