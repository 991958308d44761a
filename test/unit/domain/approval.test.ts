import { describe, expect, it } from "vitest";
import { approve, openEmergency } from "../../../lib/domain/approval";
import { InvalidRequestError, RotationConflictError } from "../../../lib/domain/errors";

const t0 = new Date("2026-11-22T10:00:00Z");
const req = () => openEmergency({ rotationId: "kek:v/k@emergency:1", keyId: "kek:v/k", requestedBy: "alice", reason: "key material leaked in a log", revokeOld: true, now: t0, windowMs: 3_600_000 });

function statusOf(fn: () => unknown): number | string {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof InvalidRequestError) return err.status;
    if (err instanceof RotationConflictError) return 409;
    throw err;
  }
}

describe("emergency approval", () => {
  it("opens a pending request whose deadline is the window after the request", () => {
    expect(req()).toMatchObject({ status: "pendingApproval", approveBy: "2026-11-22T11:00:00.000Z" });
  });

  it("refuses a reason shorter than ten characters", () => {
    expect(() => openEmergency({ ...{ rotationId: "r", keyId: "k", requestedBy: "a", revokeOld: false, now: t0, windowMs: 1 }, reason: "leaked" })).toThrow(/at least 10/);
  });

  it("refuses self-approval with 403", () => {
    expect(statusOf(() => approve(req(), "alice", t0))).toBe(403);
  });

  it("refuses a late approval with 410", () => {
    expect(statusOf(() => approve(req(), "bob", new Date(t0.getTime() + 3_600_001)))).toBe(410);
  });

  it("approves by a second person within the window, idempotently", () => {
    const approved = approve(req(), "bob", new Date(t0.getTime() + 60_000));
    expect(approved).toMatchObject({ status: "approved", approvedBy: "bob" });
    expect(approve(approved, "bob", new Date(t0.getTime() + 120_000))).toBe(approved);
    expect(statusOf(() => approve(approved, "carol", t0))).toBe(409);
  });
});
