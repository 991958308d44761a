// Key Vault failures in keyrotor's error families. The SDK retries a 429/503 only when it carries
// Retry-After; real Key Vault 429s often do not (code Throttled), so such a 429 reaches us and
// must become a transient error the caller backs off from, never "not found" or a hard failure.
import { isRestError } from "@azure/core-rest-pipeline";
import { DependencyUnavailableError, InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { rotationMetrics } from "../telemetry";

interface KeyVaultErrorBody {
  error?: { code?: string; message?: string; innererror?: { code?: string } };
}

/** Key Vault's error code (error.code, or the inner code when more specific), if any. */
export function keyVaultErrorCode(err: unknown): string | undefined {
  if (!isRestError(err)) return undefined;
  const body = (err.details ?? {}) as KeyVaultErrorBody;
  return body.error?.innererror?.code ?? body.error?.code ?? err.code ?? undefined;
}

/** Milliseconds from retry-after-ms / x-ms-retry-after-ms / Retry-After (seconds or HTTP date). */
export function retryAfterMsOf(err: unknown, now = Date.now()): number | undefined {
  if (!isRestError(err) || !err.response) return undefined;
  const h = err.response.headers;
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const v = Number(h.get(name));
    if (h.get(name) && Number.isFinite(v) && v >= 0) return v;
  }
  const ra = h.get("retry-after");
  if (!ra) return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function isKeyVaultNotFound(err: unknown): boolean {
  return isRestError(err) && err.statusCode === 404;
}

/** The vault a failed request went to: the adapter's name for it, else the first label of the
 * request's host (<vault>.vault.azure.net). */
function vaultOf(err: { request?: { url?: string } }, vault: string | undefined): string {
  if (vault) return vault;
  try {
    return new URL(err.request?.url ?? "").hostname.split(".")[0] || "unknown";
  } catch {
    return "unknown";
  }
}

/** Translates an SDK failure of `what` (e.g. "unwrap kek-1/3f2a…") and throws it. The message
 * names the object, never any key material. Errors that are already keyrotor's pass through.
 * A 429 is counted (keyrotor.keyvault.throttled, by vault and the operation: `what`'s first word). */
export function translateKeyVaultError(err: unknown, what: string, vault?: string): never {
  if (!isRestError(err)) {
    if (err instanceof Error && /ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|socket hang up|EAI_AGAIN|aborted/i.test(`${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`)) {
      throw new DependencyUnavailableError("keyvault", `[keyrotor] [keyvault] ${what}: network error (${err.message})`, { cause: err });
    }
    throw err;
  }
  const status = err.statusCode;
  const code = keyVaultErrorCode(err);
  const msg = `[keyrotor] [keyvault] ${what}: ${status ?? "no response"}${code ? ` ${code}` : ""}`;
  if (status === undefined || status === 408 || status >= 500) {
    throw new DependencyUnavailableError("keyvault", msg, { code: status === undefined ? "NetworkError" : "KeyVaultUnavailable", retryAfterMs: retryAfterMsOf(err), cause: err });
  }
  if (status === 429) {
    rotationMetrics().keyVaultThrottled(vaultOf(err, vault), what.split(" ")[0] ?? what);
    throw new DependencyUnavailableError("keyvault", msg, { code: "Throttled", retryAfterMs: retryAfterMsOf(err), cause: err });
  }
  if (status === 401 || status === 403) {
    // A disabled or expired-for-this-operation version is a state the caller asked about, not an
    // access problem; anything else means keyrotor's identity lacks a role: stop and alert.
    const serviceMessage = ((err.details ?? {}) as KeyVaultErrorBody).error?.message ?? "";
    if (code === "KeyDisabled" || code === "SecretDisabled" || /disabled/i.test(serviceMessage)) {
      throw new InvalidRequestError("VersionDisabled", `${msg} (the version is disabled)`, { status: 409, cause: err });
    }
    throw new InvariantViolationError("KeyVaultAccessDenied", `${msg} (keyrotor's identity lacks access to the vault; grant it the Key Vault Crypto Officer / Secrets Officer role)`, { cause: err });
  }
  if (status === 404) throw new InvalidRequestError(code === "SecretNotFound" ? "SecretNotFound" : "KeyNotFound", msg, { status: 404, cause: err });
  if (status === 409) throw new RotationConflictError(code ?? "Conflict", msg, { cause: err });
  throw new InvalidRequestError(code ?? "KeyVaultBadRequest", msg, { status: 400, cause: err });
}

/** Runs one SDK call and translates its failure. */
export async function kv<T>(what: string, call: () => Promise<T>, vault?: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    translateKeyVaultError(err, what, vault);
  }
}
