// Telemetry around an activity (never in orchestrator code, which replays): one span and one
// structured log line per activity execution, rotation counters and duration from recordStep,
// rewrap throughput from the range activity's returned counts.
import { trace } from "@opentelemetry/api";
import { readHistoryError } from "../domain/errors";
import { parseKeyId, ROTATION_TRIGGERS, type KeyKind, type RotationTrigger, type VersionState } from "../domain/keys";
import type { LedgerEntryType } from "../ports";
import { createLogger, ensureTelemetry, rotationMetrics, spanAttributes, withSpan, type LogValue, type RotationSpanAttributes } from "../telemetry";
import { entryIdFor, recordStep, type RecordStep } from "./activities";
import { DURABLE } from "./names";
import type { RotationDeps } from "./ports";

type ActivityName = keyof typeof DURABLE.activities;

/** The phase an activity works towards, for spans and log lines (recordStep and disableVersion
 * name theirs in their input). */
const PHASE_OF_ACTIVITY: Partial<Record<ActivityName, string>> = {
  loadRotationContext: "locked",
  createKeyVersion: "versionCreated",
  createSecretVersion: "versionCreated",
  rotateTenantDek: "versionCreated",
  promoteVersion: "promoted",
  publishJwks: "promoted",
  setKeyOps: "promoted",
  listTenants: "rewrapping",
  rewrapRange: "rewrapping",
  countReferences: "rewrapping",
  sealLedger: "completed",
  claimFence: "locked",
  readFence: "requested",
};

/** The state of the version a ledger entry is about, for the log line's keyState. */
const KEY_STATE_OF_ENTRY: Partial<Record<LedgerEntryType, VersionState>> = {
  Promoted: "primary", RolledBack: "primary", Completed: "primary", Retired: "retired", Revoked: "revoked",
};

export interface ActivityTelemetryContext extends RotationSpanAttributes {
  keyState?: VersionState;
}

const str = (o: Record<string, unknown>, k: string): string | undefined => {
  const v = o[k];
  return typeof v === "string" && v.length > 0 && v.length <= 512 ? v : undefined;
};

function kindOf(keyId: string | undefined): KeyKind | undefined {
  if (keyId === undefined) return undefined;
  try {
    return parseKeyId(keyId).kind;
  } catch {
    return undefined;
  }
}

/** rotationId, keyId, kind, phase and key state from an activity's raw input — only these ids, so
 * nothing else of the input (never key material, but not ours to copy either) reaches telemetry. */
export function activityTelemetryContext(name: string, raw: unknown): ActivityTelemetryContext {
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const tenant = str(o, "tenant");
  const keyId = str(o, "keyId") ?? str(o, "kekKeyId") ?? (tenant ? `dek:${tenant}` : undefined);
  const kind = kindOf(keyId);
  const rotationId = str(o, "rotationId");
  const state = str(o, "state");
  const type = str(o, "type") as LedgerEntryType | undefined;
  const phase = name === "recordStep" || name === "validateVersion" ? str(o, "phase") : name === "disableVersion" ? state : PHASE_OF_ACTIVITY[name as ActivityName];
  const keyState = name === "disableVersion" && (state === "retired" || state === "revoked") ? state : type ? KEY_STATE_OF_ENTRY[type] : undefined;
  return {
    ...(rotationId ? { rotationId } : {}), ...(keyId ? { keyId } : {}), ...(kind ? { kind } : {}), ...(phase ? { phase } : {}), ...(keyState ? { keyState } : {}),
  };
}

/** What the line of a finished activity adds: counts the workbook reads, never payloads. */
function resultFields(name: string, raw: unknown, result: unknown): Record<string, LogValue | undefined> {
  const r = result && typeof result === "object" ? (result as Record<string, unknown>) : {};
  const n = (k: string): number | undefined => (typeof r[k] === "number" ? r[k] : undefined);
  if (name === "rewrapRange") {
    // Per-range counts under their own names: rewrapped/total in the logs mean the rotation's
    // running totals (the workbook's in-flight query takes their max).
    return { op: str((raw ?? {}) as Record<string, unknown>, "op") ?? "range", rangeRewrapped: n("rewrapped"), rangeThrottled: n("throttled") };
  }
  if (name === "recordStep") {
    const counts = ((raw ?? {}) as { counts?: Record<string, unknown> }).counts ?? {};
    const c = (k: string): number | undefined => (typeof counts[k] === "number" ? counts[k] : undefined);
    const o = (raw ?? {}) as Record<string, unknown>;
    return { event: str(o, "event") ?? str(o, "type"), step: str(o, "step"), rewrapped: c("rewrapped"), total: c("total") };
  }
  return {};
}

/** Rewrap throughput from the range activity's own counts (the rewrap module stays untouched). */
function recordRewrap(raw: unknown, result: unknown, seconds: number): void {
  const op = ((raw ?? {}) as { op?: unknown }).op;
  if (op !== undefined && op !== "range") return;
  const r = (result ?? {}) as { rewrapped?: unknown; elapsedMs?: unknown };
  if (typeof r.rewrapped !== "number") return;
  rotationMetrics().rewrapBatch("kek", r.rewrapped, typeof r.elapsedMs === "number" ? r.elapsedMs / 1000 : seconds);
}

/** Runs one activity inside a span `keyrotor.activity.<name>` with its rotation context, writes
 * one structured log line when it ends (error level with the error code when it fails), and
 * records the rewrap's throughput. Behaviour and errors are the activity's own. */
export async function observeActivity<T>(name: string, raw: unknown, run: () => Promise<T>): Promise<T> {
  ensureTelemetry();
  const ctx = activityTelemetryContext(name, raw);
  const log = createLogger("orchestration", ctx);
  const started = performance.now();
  return withSpan(`activity.${name}`, ctx, async () => {
    try {
      const result = await run();
      const seconds = (performance.now() - started) / 1000;
      if (name === DURABLE.activities.rewrapRange) recordRewrap(raw, result, seconds);
      log.info(`${name} done`, { activity: name, durationMs: Math.round(seconds * 1000), ...resultFields(name, raw, result) });
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error(`${name} failed`, { activity: name, errorCode: readHistoryError(err).code ?? (err instanceof Error ? err.name : "Error"), error: message.slice(0, 300) });
      throw err;
    }
  });
}

// ---- rotation counters and duration from recordStep ---------------------------------------------

/** The ledger as recordStep sees it, plus the point read HashChainLedger has. */
interface LedgerWithLookup {
  byEntryId?(keyId: string, entryId: string): Promise<{ at: string } | undefined>;
}

const isTrigger = (t: unknown): t is RotationTrigger => typeof t === "string" && (ROTATION_TRIGGERS as readonly string[]).includes(t);

/** recordStep, then the rotation's counters: started on its LockAcquired entry, completed or failed
 * (with the duration since LockAcquired, both the orchestration's own times) on its Completed or
 * Failed entry. A replayed or retried step whose entry already exists counts nothing again, and a
 * rotation-wide span `keyrotor.rotation` (start and end from the ledger) is emitted at the end. */
export async function recordStepObserved(deps: RotationDeps, input: RecordStep): Promise<{ seq: number }> {
  const counted = input.type === "LockAcquired" || input.type === "Completed" || input.type === "Failed";
  const ledger = deps.ledger as unknown as LedgerWithLookup;
  const fresh = counted && ledger.byEntryId ? (await ledger.byEntryId(input.keyId, entryIdFor(input.rotationId, input.step))) === undefined : counted;
  const result = await recordStep(deps, input);
  const kind = kindOf(input.keyId);
  if (!fresh || !kind || !isTrigger(input.trigger)) return result;
  const labels = { kind, trigger: input.trigger };
  if (input.type === "LockAcquired") {
    rotationMetrics().rotationStarted(labels);
    return result;
  }
  const startedAt = ledger.byEntryId ? (await ledger.byEntryId(input.keyId, entryIdFor(input.rotationId, "locked")))?.at : undefined;
  const seconds = startedAt ? Math.max(0, (Date.parse(input.at) - Date.parse(startedAt)) / 1000) : undefined;
  if (input.type === "Completed") rotationMetrics().rotationCompleted(labels, seconds ?? 0);
  else rotationMetrics().rotationFailed({ ...labels, ...(input.error ? { errorCode: input.error.code } : {}) }, seconds);
  if (startedAt) {
    const failedPhase = input.details?.failedPhase;
    trace.getTracer("keyrotor").startSpan("keyrotor.rotation", {
      startTime: new Date(startedAt),
      attributes: {
        ...spanAttributes({ rotationId: input.rotationId, keyId: input.keyId, kind, phase: input.type === "Completed" ? "completed" : "failed" }),
        "keyrotor.trigger": input.trigger, "keyrotor.outcome": input.type === "Completed" ? "completed" : "failed",
        ...(typeof failedPhase === "string" ? { "keyrotor.failedPhase": failedPhase } : {}),
      },
    }).end(new Date(input.at));
  }
  return result;
}
