import { describe, expect, it } from "vitest";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { DependencyUnavailableError, InvalidRequestError, InvariantViolationError, RotationConflictError } from "../../../lib/domain/errors";
import { translateKeyVaultError } from "../../../lib/vault/errors";
import { withKeyVaultBackoff } from "../../../lib/vault/retry";

function kvError(status: number, code: string, headers: Record<string, string> = {}, message = "x"): RestError {
  const request = createPipelineRequest({ url: "https://v.vault.azure.net/keys/k" });
  const err = new RestError(message, {
    statusCode: status,
    code,
    request,
    response: { status, headers: createHttpHeaders(headers), request, bodyAsText: "" },
  });
  err.details = { error: { code, message } };
  return err;
}

const caught = (e: unknown) => {
  try {
    translateKeyVaultError(e, "unwrap k/1");
  } catch (err) {
    return err;
  }
  throw new Error("did not throw");
};

describe("translateKeyVaultError", () => {
  it("turns a 429 without Retry-After into a transient Throttled error", () => {
    const err = caught(kvError(429, "Throttled"));
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(err).toMatchObject({ dependency: "keyvault", code: "Throttled", retryAfterMs: undefined });
  });

  it("keeps the vault's Retry-After on a 429", () => {
    expect(caught(kvError(429, "Throttled", { "retry-after": "3" }))).toMatchObject({ code: "Throttled", retryAfterMs: 3000 });
  });

  it("treats 5xx and network failures as transient", () => {
    expect(caught(kvError(503, "ServiceUnavailable"))).toBeInstanceOf(DependencyUnavailableError);
    expect(caught(new RestError("socket hang up", { code: "ECONNRESET" }))).toMatchObject({ code: "NetworkError" });
  });

  it("never retries an access denial: it is an invariant violation that alerts", () => {
    expect(caught(kvError(403, "Forbidden"))).toBeInstanceOf(InvariantViolationError);
    expect(caught(kvError(401, "Unauthorized"))).toBeInstanceOf(InvariantViolationError);
  });

  it("reports an operation on a disabled version as a 409 request error, not an access problem", () => {
    expect(caught(kvError(403, "Forbidden", {}, "Operation unwrapKey is not allowed on a disabled key."))).toMatchObject({ code: "VersionDisabled", status: 409 });
  });

  it("maps 404 to a not-found request error and 409 to a conflict", () => {
    expect(caught(kvError(404, "KeyNotFound"))).toMatchObject({ code: "KeyNotFound", status: 404 });
    expect(caught(kvError(404, "SecretNotFound"))).toBeInstanceOf(InvalidRequestError);
    expect(caught(kvError(409, "Conflict"))).toBeInstanceOf(RotationConflictError);
  });
});

describe("withKeyVaultBackoff", () => {
  it("retries Key Vault throttling with 1, 2, 4 s steps and then succeeds", async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withKeyVaultBackoff(
      async () => {
        if (++calls < 4) throw new DependencyUnavailableError("keyvault", "t", { code: "Throttled" });
        return "ok";
      },
      { sleep: async (ms) => void waits.push(ms), random: () => 1 },
    );
    expect(result).toBe("ok");
    expect(waits).toEqual([1000, 2000, 4000]);
  });

  it("gives up after maxAttempts with the last error", async () => {
    const err = await withKeyVaultBackoff(async () => {
      throw new DependencyUnavailableError("keyvault", "t", { code: "Throttled" });
    }, { sleep: async () => undefined, maxAttempts: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "Throttled" });
  });

  it("does not retry errors that are not transient Key Vault failures", async () => {
    let calls = 0;
    await expect(withKeyVaultBackoff(async () => {
      calls++;
      throw new InvariantViolationError("KeyVaultAccessDenied", "no");
    }, { sleep: async () => undefined })).rejects.toBeInstanceOf(InvariantViolationError);
    expect(calls).toBe(1);
  });
});
