// Two-person rule for emergency rotations: an Operator asks, a different Approver approves within
// the approval window. "No single click can revoke or invalidate keys" (the user's operations notes).
import { InvalidRequestError, RotationConflictError } from "./errors";

export type ApprovalStatus = "pendingApproval" | "approved";

export interface EmergencyRequest {
  /** The rotationId the approved rotation will run under. */
  rotationId: string;
  keyId: string;
  requestedBy: string;
  requestedAt: string;
  reason: string;
  revokeOld: boolean;
  /** Where the request came from: the API, or an external compromise signal. */
  source: "api" | "compromise-signal";
  evidence?: string;
  /** The version reported compromised: the key's primary when the emergency was requested. The
   * rotation revokes exactly this one, even if other rotations promoted newer versions meanwhile. */
  compromisedVersion?: string;
  /** Approval deadline (requestedAt + window). */
  approveBy: string;
  status: ApprovalStatus;
  approvedBy?: string;
  approvedAt?: string;
}

export const MIN_REASON_LENGTH = 10;

export function openEmergency(args: {
  rotationId: string; keyId: string; requestedBy: string; reason: string; revokeOld: boolean; now: Date; windowMs: number;
  source?: EmergencyRequest["source"]; evidence?: string; compromisedVersion?: string;
}): EmergencyRequest {
  if (args.reason.trim().length < MIN_REASON_LENGTH) {
    throw new InvalidRequestError("ReasonTooShort", `reason must be at least ${MIN_REASON_LENGTH} characters`, { field: "reason" });
  }
  return {
    rotationId: args.rotationId,
    keyId: args.keyId,
    requestedBy: args.requestedBy,
    requestedAt: args.now.toISOString(),
    reason: args.reason.trim(),
    revokeOld: args.revokeOld,
    source: args.source ?? "api",
    ...(args.evidence ? { evidence: args.evidence } : {}),
    ...(args.compromisedVersion ? { compromisedVersion: args.compromisedVersion } : {}),
    approveBy: new Date(args.now.getTime() + args.windowMs).toISOString(),
    status: "pendingApproval",
  };
}

/** Applies an approval; throws 403 on self-approval, 410 when late, 409 when already approved by
 * someone else. Approving twice by the same approver returns the request unchanged (idempotent). */
export function approve(req: EmergencyRequest, approver: string, now: Date): EmergencyRequest {
  if (req.status === "approved") {
    if (req.approvedBy === approver) return req;
    throw new RotationConflictError("AlreadyApproved", `emergency ${req.rotationId} was already approved by ${req.approvedBy}`, { runningRotationId: req.rotationId });
  }
  if (approver === req.requestedBy) {
    throw new InvalidRequestError("SelfApproval", "an emergency must be approved by a different person than the requester", { status: 403 });
  }
  if (now.getTime() > Date.parse(req.approveBy)) {
    throw new InvalidRequestError("ApprovalExpired", `the approval window closed at ${req.approveBy}; request a new emergency rotation`, { status: 410 });
  }
  return { ...req, status: "approved", approvedBy: approver, approvedAt: now.toISOString() };
}
