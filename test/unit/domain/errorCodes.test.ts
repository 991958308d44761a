// No storage error code ever reaches a caller (issue 21): stores throw Azure Storage codes
// (UpdateConditionNotSatisfied, EntityAlreadyExists...), the HTTP body carries keyrotor's own.
import { describe, expect, it } from "vitest";
import { DependencyUnavailableError, dispositionOf, errorBody, InvalidRequestError, InvariantViolationError, publicErrorCode, RotationConflictError } from "../../../lib/domain/errors";

const STORAGE = /UpdateConditionNotSatisfied|ConditionNotMet|EntityAlreadyExists|TableAlreadyExists|ResourceNotFound|EntityNotFound|InvalidInput|ServerBusy|OperationTimedOut|AuthorizationFailure|odata/;

describe("errorBody never passes a storage error code through", () => {
  it("answers a concurrent update as 409 ConcurrentUpdate, not UpdateConditionNotSatisfied", () => {
    const err = new RotationConflictError("UpdateConditionNotSatisfied", "[keyrotor] [approvals] kek:v/k@emergency:1 changed (ETag): UpdateConditionNotSatisfied");
    expect(dispositionOf(err).httpStatus).toBe(409);
    expect(errorBody(err)).toEqual({ error: { code: "ConcurrentUpdate", message: "[keyrotor] [approvals] kek:v/k@emergency:1 changed (ETag): ConcurrentUpdate" } });
  });

  it("answers a create over an existing row as AlreadyExists, keeping the running rotation", () => {
    expect(errorBody(new RotationConflictError("EntityAlreadyExists", "exists", { runningRotationId: "r1" }))).toEqual({ error: { code: "AlreadyExists", message: "exists", rotationId: "r1" } });
    expect(errorBody(new InvalidRequestError("ResourceNotFound", "gone", { status: 404 })).error.code).toBe("NotFound");
    expect(errorBody(new InvariantViolationError("InvalidInput", "x")).error.code).toBe("StorageRefused");
  });

  it("answers an unavailable dependency without the service's own text, codes or request ids", () => {
    const raw = '{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"The server is busy.\\nRequestId:0f1e"}}}';
    const body = errorBody(new DependencyUnavailableError("tables", `[keyrotor] [tables] put failed: ${raw}`, { code: "ServerBusy", retryAfterMs: 1500 }));
    expect(body).toEqual({ error: { code: "DependencyUnavailable", message: "[keyrotor] tables is unavailable right now; retry after 2 s" } });
    expect(JSON.stringify(errorBody(new DependencyUnavailableError("keyvault", "KeyVault said ServerBusy")))).not.toMatch(STORAGE);
  });

  it("leaves keyrotor's own codes alone", () => {
    for (const code of ["LockHeld", "AlreadyApproved", "PreconditionFailed", "PolicyInvalid", "Conflict", "Throttled"]) expect(publicErrorCode(code)).toBe(code);
    expect(publicErrorCode("constructor")).toBe("constructor");
    expect(publicErrorCode("toString")).toBe("toString");
  });
});
