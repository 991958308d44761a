import { describe, expect, it } from "vitest";
import { confirmApproval, decideApproval, openEmergency, releaseClaim, type EmergencyRequest, type Person } from "../../../lib/domain/approval";
import { InvalidRequestError, RotationConflictError } from "../../../lib/domain/errors";

const t0 = new Date("2026-11-22T10:00:00Z");
const later = new Date(t0.getTime() + 60_000);
const alice: Person = { id: "11111111-aaaa-4000-8000-000000000001", name: "alice" };
const bob: Person = { id: "22222222-bbbb-4000-8000-000000000002", name: "bob" };
const carol: Person = { id: "33333333-cccc-4000-8000-000000000003", name: "carol" };
const req = (revokeOld = true) => openEmergency({ rotationId: "kek:v/k@emergency:1", keyId: "kek:v/k", requestedBy: alice, reason: "key material leaked in a log", revokeOld, now: t0, windowMs: 3_600_000 });

function failure(fn: () => unknown): number | string {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof InvalidRequestError) return `${err.status} ${err.code}`;
    if (err instanceof RotationConflictError) return `409 ${err.code}`;
    throw err;
  }
}

function claimed(r: EmergencyRequest, who: Person, at = later, acceptDataLoss = false): EmergencyRequest {
  const d = decideApproval(r, who, at, { acceptDataLoss });
  if (d.kind !== "claim") throw new Error(`expected a claim, got ${d.kind}`);
  return d.next;
}

describe("emergency approval", () => {
  it("opens a pending request whose deadline is the window after the request, recording the requester's id and name", () => {
    expect(req()).toMatchObject({ status: "pendingApproval", approveBy: "2026-11-22T11:00:00.000Z", requestedBy: "alice", requestedById: alice.id });
  });

  it("refuses a reason shorter than ten characters", () => {
    expect(() => openEmergency({ ...{ rotationId: "r", keyId: "k", requestedBy: alice, revokeOld: false, now: t0, windowMs: 1 }, reason: "leaked" })).toThrow(/at least 10/);
  });

  it("refuses self-approval with 403 when the ids match, whatever the display names say", () => {
    expect(failure(() => decideApproval(req(), { id: alice.id, name: "Alice (second account name)" }, later))).toBe("403 SelfApproval");
  });

  it("lets a different person approve even when both share a display name (ids differ)", () => {
    const namesake: Person = { id: "44444444-dddd-4000-8000-000000000004", name: "alice" };
    expect(claimed(req(), namesake)).toMatchObject({ status: "approving", approvedBy: "alice", approvedById: namesake.id });
  });

  it("refuses a late approval with 410", () => {
    expect(failure(() => decideApproval(req(), bob, new Date(t0.getTime() + 3_600_001)))).toBe("410 ApprovalExpired");
  });

  it("a claim records the approver's id, name and time, and becomes approved only when confirmed", () => {
    const c = claimed(req(), bob);
    expect(c).toMatchObject({ status: "approving", approvedBy: "bob", approvedById: bob.id, approvedAt: later.toISOString() });
    expect(confirmApproval(c)).toMatchObject({ status: "approved", approvedById: bob.id });
  });

  it("a released claim is the pending request again: no approver, no data-loss acceptance", () => {
    expect(releaseClaim(claimed(req(), bob, later, true))).toEqual(req());
  });

  it("the same approver again is a repeat (same answer), another approver a 409", () => {
    const approved = confirmApproval(claimed(req(), bob));
    expect(decideApproval(approved, bob, later)).toEqual({ kind: "repeat", request: approved });
    expect(decideApproval(claimed(req(), bob), bob, later).kind).toBe("repeat");
    expect(failure(() => decideApproval(approved, carol, later))).toBe("409 AlreadyApproved");
    // Same display name, other person: still someone else.
    expect(failure(() => decideApproval(approved, { id: carol.id, name: "bob" }, later))).toBe("409 AlreadyApproved");
  });

  it("a repeat after the approval window changes nothing: it is a repeat, not a new approval", () => {
    const approved = confirmApproval(claimed(req(), bob));
    expect(decideApproval(approved, bob, new Date(t0.getTime() + 86_400_000)).kind).toBe("repeat");
  });

  it("acceptDataLoss comes only with the first approval: recorded with who and when; refused on a repeat that did not carry it", () => {
    const withLoss = confirmApproval(claimed(req(), bob, later, true));
    expect(withLoss).toMatchObject({ dataLossAcceptedBy: "bob", dataLossAcceptedById: bob.id, dataLossAcceptedAt: later.toISOString() });
    expect(decideApproval(withLoss, bob, later, { acceptDataLoss: true }).kind).toBe("repeat");
    const without = confirmApproval(claimed(req(), bob));
    expect(failure(() => decideApproval(without, bob, later, { acceptDataLoss: true }))).toBe("409 DataLossAfterApproval");
  });

  it("refuses acceptDataLoss on a request without revokeOld", () => {
    expect(failure(() => decideApproval(req(false), bob, later, { acceptDataLoss: true }))).toBe("400 DataLossNotApplicable");
  });

  it("a request recorded before ids existed cannot be approved: its requester's name cannot be compared with an approver's object id (409 RequesterUnidentified)", () => {
    const { requestedById: _id, ...legacy } = openEmergency({ rotationId: "r@e", keyId: "k", requestedBy: { id: "alice", name: "alice" }, reason: "key material leaked", revokeOld: false, now: t0, windowMs: 60_000 });
    expect(failure(() => decideApproval(legacy, { id: "alice", name: "alice" }, t0))).toBe("409 RequesterUnidentified");
    expect(failure(() => decideApproval(legacy, { id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", name: "alice" }, t0))).toBe("409 RequesterUnidentified");
  });
});
