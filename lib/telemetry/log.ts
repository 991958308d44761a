// Structured log lines: one JSON object per line, always carrying phase, rotationId, keyId and key
// state (null when not applicable, so a KQL `parse_json(message)` finds the same columns every
// time). Key material never gets in: fields whose names or values look like it are redacted.
import type { KeyKind, VersionState } from "../domain/keys";
import type { LogFieldName } from "./names";

export interface LogContext {
  /** A RotationPhase, or the name of a smaller workflow's step (retirement, rollback). */
  phase?: string;
  rotationId?: string;
  keyId?: string;
  /** The state of the version the line is about (primary, secondary, retired, revoked). */
  keyState?: VersionState;
  kind?: KeyKind;
}

export type LogValue = string | number | boolean | null;
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Names that would carry key material or credentials (JWK private members included); a field so
 * named is a programming error; its value is replaced by REDACTED. */
const FORBIDDEN_FIELD = /plaintext|private_?key|key_?material|secret_?value|password|access_?token|sas_?token|connection_?string|account_?key|^(k|d|p|q|dp|dq|qi|dek|key|secret)$/i;

export const REDACTED = "[redacted]";
const PEM_PRIVATE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** The fields of one log line: the four always-present ones first, then the extras. */
export function logFields(ctx: LogContext, extra: Record<string, LogValue | undefined> = {}): Record<string, LogValue> {
  const out: Record<string, LogValue> = {
    phase: ctx.phase ?? null,
    rotationId: ctx.rotationId ?? null,
    keyId: ctx.keyId ?? null,
    keyState: ctx.keyState ?? null,
  };
  if (ctx.kind !== undefined) out.kind = ctx.kind;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) continue;
    // Redact rather than throw: a log call must never be what fails a rotation half-way.
    out[k] = FORBIDDEN_FIELD.test(k) || (typeof v === "string" && PEM_PRIVATE.test(v)) ? REDACTED : v;
  }
  return out;
}

export type LogSink = (level: LogLevel, line: string) => void;

const consoleSink: LogSink = (level, line) => {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

let defaultSink: LogSink = consoleSink;

/** Where loggers created without a sink write (console unless a host or test installs another). */
export function setDefaultLogSink(sink: LogSink | undefined): void {
  defaultSink = sink ?? consoleSink;
}

export interface StructuredLogger {
  log(level: LogLevel, msg: string, extra?: Record<string, LogValue | undefined>): void;
  debug(msg: string, extra?: Record<string, LogValue | undefined>): void;
  info(msg: string, extra?: Record<string, LogValue | undefined>): void;
  warn(msg: string, extra?: Record<string, LogValue | undefined>): void;
  error(msg: string, extra?: Record<string, LogValue | undefined>): void;
  /** A logger for a narrower context (e.g. the phase moved on). */
  with(ctx: LogContext): StructuredLogger;
}

/** A logger bound to a component and a rotation context. In Azure Functions pass a sink that
 * writes through the InvocationContext (its lines land in Application Insights' traces). */
export function createLogger(component: string, ctx: LogContext = {}, sink?: LogSink): StructuredLogger {
  const log = (level: LogLevel, msg: string, extra: Record<string, LogValue | undefined> = {}) => {
    const fields: Record<string, LogValue> = { msg, level, component, ...logFields(ctx, extra) };
    (sink ?? defaultSink)(level, JSON.stringify(fields));
  };
  return {
    log,
    debug: (m, e) => log("debug", m, e),
    info: (m, e) => log("info", m, e),
    warn: (m, e) => log("warn", m, e),
    error: (m, e) => log("error", m, e),
    with: (more) => createLogger(component, { ...ctx, ...more }, sink),
  };
}

/** The fixed field names a line always has (KQL relies on them). */
export const ALWAYS_PRESENT_FIELDS: readonly LogFieldName[] = ["msg", "level", "component", "phase", "rotationId", "keyId", "keyState"];
