import { describe, expect, it } from "vitest";
import {
  DependencyUnavailableError, dispositionOf, errorBody, familyTag, InvalidRequestError, InvariantViolationError, RotationConflictError,
} from "../../../lib/domain/errors";

describe("dispositionOf maps every error family to one HTTP status and one retry decision", () => {
  it("a caller's mistake is its own 4xx, never retried, never alerted", () => {
    expect(dispositionOf(new InvalidRequestError("Bad", "bad"))).toEqual({ httpStatus: 400, retry: false, alert: false });
    expect(dispositionOf(new InvalidRequestError("Late", "late", { status: 410 })).httpStatus).toBe(410);
  });

  it("a conflict is 409 and may be retried after re-reading", () => {
    expect(dispositionOf(new RotationConflictError("LockHeld", "held"))).toEqual({ httpStatus: 409, retry: true, alert: false });
  });

  it("an unavailable dependency is 503 and retried", () => {
    expect(dispositionOf(new DependencyUnavailableError("keyvault", "throttled", { code: "Throttled", retryAfterMs: 1000 }))).toEqual({ httpStatus: 503, retry: true, alert: false });
  });

  it("an invariant violation stops at once and alerts", () => {
    expect(dispositionOf(new InvariantViolationError("RefsRemain", "references remain"))).toEqual({ httpStatus: 500, retry: false, alert: true });
  });

  it("an unknown error is an internal fault: 500, retried within bounds, alerted", () => {
    expect(dispositionOf(new Error("boom"))).toEqual({ httpStatus: 500, retry: true, alert: true });
    expect(dispositionOf("a string")).toEqual({ httpStatus: 500, retry: true, alert: true });
  });
});

describe("errorBody", () => {
  it("names the field of an invalid request", () => {
    expect(errorBody(new InvalidRequestError("ValidationFailed", "reason: too short", { field: "reason" }))).toEqual({ error: { code: "ValidationFailed", message: "reason: too short", field: "reason" } });
  });

  it("names the running rotation of a conflict", () => {
    expect(errorBody(new RotationConflictError("LockHeld", "held", { runningRotationId: "kek:v/k@manual:1" })).error.rotationId).toBe("kek:v/k@manual:1");
  });

  it("never leaks the message of an unknown error", () => {
    expect(errorBody(new Error("connection string AccountKey=abc"))).toEqual({ error: { code: "InternalError", message: expect.not.stringContaining("AccountKey") } });
  });
});

describe("familyTag", () => {
  it("reads the family back from a message that crossed orchestration history", () => {
    expect(familyTag(new Error("Activity function 'x' failed: [dependencyUnavailable] Throttled: slow down"))).toBe("dependencyUnavailable");
    expect(familyTag("[invariantViolation] RefsRemain")).toBe("invariantViolation");
    expect(familyTag(new Error("plain failure"))).toBeUndefined();
  });
});
