// The four error families, and the one place that maps them to HTTP status codes and to retry
// decisions. Everything else throws these (or lets an adapter translate into them).

export type ErrorFamily = "invalidRequest" | "conflict" | "dependencyUnavailable" | "invariantViolation";

abstract class KeyrotorError extends Error {
  abstract readonly family: ErrorFamily;
  /** Stable machine-readable code, e.g. "PolicyInvalid", "LockHeld". */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The caller's fault: a 4xx, never retried, changes nothing. */
export class InvalidRequestError extends KeyrotorError {
  readonly family = "invalidRequest" as const;
  /** The offending field, dotted path (e.g. "schedule.every"), when one field is to blame. */
  readonly field: string | undefined;
  /** HTTP status for this particular refusal (400 by default; 401/403/404/410/413 where apt). */
  readonly status: number;
  constructor(code: string, message: string, opts: { field?: string; status?: number; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause });
    this.field = opts.field;
    this.status = opts.status ?? 400;
  }
}

/** Someone else holds the lock, or the row changed under us (ETag). 409; retry after re-reading. */
export class RotationConflictError extends KeyrotorError {
  readonly family = "conflict" as const;
  /** The rotation that holds the key, when the conflict is a held lock. */
  readonly runningRotationId: string | undefined;
  constructor(code: string, message: string, opts: { runningRotationId?: string; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause });
    this.runningRotationId = opts.runningRotationId;
  }
}

/** A dependency is down, throttling or timing out: transient, retry with backoff. 503. */
export class DependencyUnavailableError extends KeyrotorError {
  readonly family = "dependencyUnavailable" as const;
  /** Which dependency: "keyvault", "tables", "servicebus", ... */
  readonly dependency: string;
  /** Suggested wait before retrying, when the dependency said so. */
  readonly retryAfterMs: number | undefined;
  constructor(dependency: string, message: string, opts: { code?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(opts.code ?? "DependencyUnavailable", message, { cause: opts.cause });
    this.dependency = dependency;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Something that must never happen happened: stop at once and alert. 500. Never retried. */
export class InvariantViolationError extends KeyrotorError {
  readonly family = "invariantViolation" as const;
  constructor(code: string, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, opts);
  }
}

export type KnownError = InvalidRequestError | RotationConflictError | DependencyUnavailableError | InvariantViolationError;

export function isKnownError(err: unknown): err is KnownError {
  return (
    err instanceof InvalidRequestError ||
    err instanceof RotationConflictError ||
    err instanceof DependencyUnavailableError ||
    err instanceof InvariantViolationError
  );
}

export interface ErrorDisposition {
  httpStatus: number;
  /** Should an automatic retry (activity retry, message redelivery) be attempted? */
  retry: boolean;
  /** Should on-call be alerted? */
  alert: boolean;
}

/** The single mapping from error to HTTP status and retry decision. Unknown errors are treated
 * as transient internal faults: 500, retried (bounded by maxAttempts), alerted. */
export function dispositionOf(err: unknown): ErrorDisposition {
  if (err instanceof InvalidRequestError) return { httpStatus: err.status, retry: false, alert: false };
  if (err instanceof RotationConflictError) return { httpStatus: 409, retry: true, alert: false };
  if (err instanceof DependencyUnavailableError) return { httpStatus: 503, retry: true, alert: false };
  if (err instanceof InvariantViolationError) return { httpStatus: 500, retry: false, alert: true };
  return { httpStatus: 500, retry: true, alert: true };
}

/** Azure Storage (Table, Blob) error codes that stores and their in-memory twins throw with, and
 * the keyrotor code a caller sees instead. A storage code names our implementation, not the
 * caller's situation, and changes with it: it never reaches a caller. Stores may keep
 * throwing them (their own retry logic reads them); only the HTTP body is translated, here. */
const STORAGE_CODES: Readonly<Record<string, string>> = {
  UpdateConditionNotSatisfied: "ConcurrentUpdate",
  ConditionNotMet: "ConcurrentUpdate",
  EntityAlreadyExists: "AlreadyExists",
  TableAlreadyExists: "AlreadyExists",
  BlobAlreadyExists: "AlreadyExists",
  ResourceAlreadyExists: "AlreadyExists",
  EntityNotFound: "NotFound",
  ResourceNotFound: "NotFound",
  TableNotFound: "NotFound",
  TableBeingDeleted: "DependencyUnavailable",
  InvalidInput: "StorageRefused",
  OutOfRangeInput: "StorageRefused",
  InvalidDuplicateRow: "StorageRefused",
  PropertyValueTooLarge: "StorageRefused",
  EntityTooLarge: "StorageRefused",
  RequestBodyTooLarge: "StorageRefused",
  ServerBusy: "DependencyUnavailable",
  OperationTimedOut: "DependencyUnavailable",
  AuthenticationFailed: "DependencyUnavailable",
  AuthorizationFailure: "DependencyUnavailable",
  AuthorizationPermissionMismatch: "DependencyUnavailable",
};

/** The code a caller sees for an error code keyrotor threw (storage codes translated). */
export function publicErrorCode(code: string): string {
  return Object.prototype.hasOwnProperty.call(STORAGE_CODES, code) ? STORAGE_CODES[code]! : code;
}

/** A message with any storage code in it translated the same way. */
function publicMessage(message: string): string {
  return message.replace(/\b[A-Z][A-Za-z]+\b/g, publicErrorCode);
}

/** The JSON error body every 4xx/5xx carries. Internal details of unknown errors are not leaked,
 * nor storage error codes, nor a dependency's own error text (it quotes the service's codes and
 * request ids; the log keeps it). */
export function errorBody(err: unknown): { error: { code: string; message: string; field?: string; rotationId?: string } } {
  if (err instanceof InvalidRequestError) {
    return { error: { code: publicErrorCode(err.code), message: publicMessage(err.message), ...(err.field ? { field: err.field } : {}) } };
  }
  if (err instanceof RotationConflictError) {
    return { error: { code: publicErrorCode(err.code), message: publicMessage(err.message), ...(err.runningRotationId ? { rotationId: err.runningRotationId } : {}) } };
  }
  if (err instanceof DependencyUnavailableError) {
    const retry = err.retryAfterMs !== undefined ? ` after ${Math.ceil(err.retryAfterMs / 1000)} s` : " later";
    return { error: { code: publicErrorCode(err.code), message: `[keyrotor] ${err.dependency} is unavailable right now; retry${retry}` } };
  }
  if (isKnownError(err)) return { error: { code: publicErrorCode(err.code), message: publicMessage(err.message) } };
  return { error: { code: "InternalError", message: "internal error; see logs for the invocation id" } };
}

// ---- errors across orchestration history ----------------------------------------------------------
// History keeps an error's message only, so an error crosses it as one line:
//   `[<family>] <Code>: <message>`   e.g. `[dependencyUnavailable] Throttled: [keyrotor] [keyvault] 429`
// historyError/toHistoryError write it, readHistoryError reads it back (anywhere in the text: the
// durable runtime wraps it). Nothing else writes or parses it.
// The wrapping (durable-functions joins a failure's reason and details as `<reason> \n <details>`):
//   real extension: `Activity function 'x' failed:  <message> \n <the serialized .NET exception>`,
//     whose inner message is the worker's `Result: Failure\nException: <message>\nStack: <stack>`
//     (recorded: test/fixtures/realRuntime/activityFailureMessage.json); dev/host hands the same shape.
//   also `Sub-orchestration 'x' (<id>) failed: ...` and `Orchestrator function 'x' failed: ...`.
// Only the app's own message (one line) is kept: the rest holds .NET type names, the worker's stack
// and file paths, which must not reach the ledger, events or the API.

const HISTORY_ERROR = /\[(invalidRequest|conflict|dependencyUnavailable|invariantViolation)\](?: ([A-Za-z]+):)?/;

/** An error in the history format, for an orchestrator (or activity) to throw. */
export function historyError(family: ErrorFamily, code: string, message: string): Error {
  return new Error(`[${family}] ${code}: ${message}`);
}

/** A thrown error as it must cross history: known errors keep their family and code; unknown ones
 * stay untagged (treated as transient internal faults, as dispositionOf() does). */
export function toHistoryError(err: unknown): Error {
  if (isKnownError(err)) return new Error(`[${err.family}] ${err.code}: ${err.message}`, { cause: err });
  if (err instanceof Error) return err;
  return new Error(`[keyrotor] unexpected: ${String(err)}`);
}

/** The runtime's words in front of the app's message (any number of them, nested). */
const RUNTIME_PREFIX = /^\s*(?:Activity function '[^']*' failed:|Sub-orchestration '[^']*' \([^)]*\) failed:|Orchestrator function '[^']*' failed:|Result: Failure\s*Exception:)/;

/** The app's own message out of a failure message in any of the runtimes' forms: from its history
 * tag (or, untagged, after the runtime's prefixes) to the end of its line. */
function ownMessage(text: string): string {
  const tag = HISTORY_ERROR.exec(text);
  let own = tag ? text.slice(tag.index) : text;
  if (!tag) {
    for (let m = RUNTIME_PREFIX.exec(own); m; m = RUNTIME_PREFIX.exec(own)) own = own.slice(m[0].length);
  }
  return (own.split("\n", 1)[0] ?? "").trim();
}

/** Family and code of an error that crossed history (undefined where it carries none), and the
 * app's own message, without the runtime's wrapping, cut to what a ledger entry or log line keeps. */
export function readHistoryError(err: unknown): { family?: ErrorFamily; code?: string; message: string } {
  const text = err instanceof Error ? err.message : typeof err === "string" ? err : String(err);
  const message = ownMessage(text);
  const m = HISTORY_ERROR.exec(message);
  return { ...(m ? { family: m[1] as ErrorFamily } : {}), ...(m?.[2] ? { code: m[2] } : {}), message: message.slice(0, 500) };
}

/** The family tag of an error that crossed history. */
export function familyTag(err: unknown): ErrorFamily | undefined {
  return err instanceof Error || typeof err === "string" ? readHistoryError(err).family : undefined;
}
