import { describe, expect, it } from "vitest";
import {
  familyTag, historyError, InvalidRequestError, readHistoryError, RotationConflictError, toHistoryError,
} from "../../../lib/domain/errors";
import { retryDelayMs } from "../../../lib/domain/rotation";

describe("the format errors cross orchestration history in", () => {
  it("reads back family and code of an error written by historyError, also inside the runtime's wrapping", () => {
    const e = historyError("invariantViolation", "LockLost", "[keyrotor] [rotation] the lease on kek:v/k was taken over");
    const wrapped = new Error(`Activity function 'rewrapRange' failed: ${e.message}`);
    expect(readHistoryError(wrapped)).toMatchObject({ family: "invariantViolation", code: "LockLost" });
    expect(familyTag(wrapped)).toBe("invariantViolation");
  });

  it("keeps a known error's family and code across the trip, so the orchestrator's retry decision is the one dispositionOf makes", () => {
    const conflict = toHistoryError(new RotationConflictError("ETagChanged", "[keyrotor] [deks] row changed"));
    expect(readHistoryError(conflict)).toMatchObject({ family: "conflict", code: "ETagChanged" });
    expect(retryDelayMs(conflict, 1)).toBeGreaterThan(0);
    const refused = toHistoryError(new InvalidRequestError("KeyNotManaged", "[keyrotor] [rotation] no such key"));
    expect(retryDelayMs(refused, 1)).toBeUndefined();
  });

  it("leaves an unknown error untagged: no family, no code, so the frame records it as Internal", () => {
    const r = readHistoryError(toHistoryError(new Error("[keyrotor] [rotation] unexpected: socket hang up")));
    expect(r.family).toBeUndefined();
    expect(r.code).toBeUndefined();
    expect(readHistoryError(toHistoryError("plain")).message).toContain("plain");
  });

  it("a tag without a code still names the family", () => {
    expect(readHistoryError("[dependencyUnavailable] flaky failure for r2")).toMatchObject({ family: "dependencyUnavailable" });
    expect(readHistoryError("[dependencyUnavailable] flaky failure for r2").code).toBeUndefined();
  });

  it("cuts the message to 500 characters, the most a ledger entry keeps", () => {
    expect(readHistoryError(historyError("invalidRequest", "TooLong", "x".repeat(2000))).message).toHaveLength(500);
  });
});
