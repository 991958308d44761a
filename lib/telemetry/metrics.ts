// keyrotor's metric instruments. The OpenTelemetry metrics API has no proxy provider: a meter taken
// before the SDK is registered stays a no-op forever. So instruments are bound to a meter in
// createRotationMetrics(), and initTelemetry() rebinds the process-wide set after registering.
import { metrics, type Attributes, type Meter, type ObservableResult } from "@opentelemetry/api";
import type { KeyKind, RotationTrigger } from "../domain/keys";
import { METRIC_ATTRIBUTES as A, METRIC_NAMES as M } from "./names";

export interface KeyHealth {
  keyId: string;
  kind: KeyKind;
  /** Days until the primary version expires (fractional); absent when it has no expiry. */
  daysToExpiry?: number;
  /** The planner has a rotation due (or running) for this key. */
  rotationDue: boolean;
  /** Past its due time and not rotated. */
  overdue: boolean;
  /** Seconds since the oldest secondary version (not yet retired) was superseded. */
  oldestSecondaryAgeSeconds?: number;
}

export interface LockPastLease {
  keyId: string;
  secondsPastLease: number;
}

export interface RotationLabels {
  kind: KeyKind;
  trigger: RotationTrigger;
}

export interface RotationMetrics {
  rotationStarted(labels: RotationLabels): void;
  rotationCompleted(labels: RotationLabels, durationSeconds: number): void;
  rotationFailed(labels: RotationLabels & { errorCode?: string }, durationSeconds?: number): void;
  /** One rewrap batch: counts the DEKs and records the batch's DEKs/s. */
  rewrapBatch(kind: KeyKind, deks: number, seconds: number): void;
  keyVaultThrottled(vault: string, operation: string): void;
  notificationFailed(eventType: string): void;
  /** The timer's latest view of every managed key; the gauges read it at each collection. */
  setKeyHealth(keys: readonly KeyHealth[]): void;
  setLedgerVerified(ok: boolean): void;
  setLocksPastLease(locks: readonly LockPastLease[]): void;
}

export function createRotationMetrics(meter: Meter): RotationMetrics {
  const started = meter.createCounter(M.rotationsStarted, { description: "Rotations started" });
  const completed = meter.createCounter(M.rotationsCompleted, { description: "Rotations completed" });
  const failed = meter.createCounter(M.rotationsFailed, { description: "Rotations failed" });
  const duration = meter.createHistogram(M.rotationDuration, { description: "Rotation duration", unit: "s" });
  const rewrapped = meter.createCounter(M.rewrappedDeks, { description: "DEKs rewrapped" });
  const rewrapRate = meter.createHistogram(M.rewrapRate, { description: "Rewrap throughput per batch", unit: "{dek}/s" });
  const throttled = meter.createCounter(M.keyVaultThrottled, { description: "429 answers from Key Vault" });
  const notificationsFailed = meter.createCounter(M.notificationsFailed, { description: "Events not published after retries" });

  let keys: readonly KeyHealth[] = [];
  let ledgerOk: boolean | undefined;
  let locks: readonly LockPastLease[] = [];

  meter.createObservableGauge(M.keysOverdue, { description: "Managed keys past their due time" }).addCallback((r: ObservableResult) => {
    r.observe(keys.filter((k) => k.overdue).length);
  });
  meter.createObservableGauge(M.daysToExpiry, { description: "Days until the primary version expires", unit: "d" }).addCallback((r) => {
    for (const k of keys) {
      if (k.daysToExpiry !== undefined) {
        r.observe(k.daysToExpiry, { [A.keyId]: k.keyId, [A.kind]: k.kind, [A.rotationDue]: String(k.rotationDue) });
      }
    }
  });
  meter.createObservableGauge(M.secondaryVersionAge, { description: "Seconds since the oldest secondary version was superseded (an age, not a count of use)", unit: "s" }).addCallback((r) => {
    for (const k of keys) {
      if (k.oldestSecondaryAgeSeconds !== undefined) r.observe(k.oldestSecondaryAgeSeconds, { [A.keyId]: k.keyId, [A.kind]: k.kind });
    }
  });
  meter.createObservableGauge(M.ledgerVerified, { description: "1 when the ledger verifies, 0 when it does not" }).addCallback((r) => {
    if (ledgerOk !== undefined) r.observe(ledgerOk ? 1 : 0);
  });
  meter.createObservableGauge(M.lockPastLease, { description: "Seconds a lock is held past its lease", unit: "s" }).addCallback((r) => {
    for (const l of locks) r.observe(l.secondsPastLease, { [A.keyId]: l.keyId });
  });

  const base = (l: RotationLabels): Attributes => ({ [A.kind]: l.kind, [A.trigger]: l.trigger });
  return {
    rotationStarted: (l) => started.add(1, base(l)),
    rotationCompleted: (l, seconds) => {
      completed.add(1, base(l));
      duration.record(seconds, { ...base(l), [A.outcome]: "completed" });
    },
    rotationFailed: (l, seconds) => {
      failed.add(1, { ...base(l), ...(l.errorCode ? { [A.errorCode]: l.errorCode } : {}) });
      if (seconds !== undefined) duration.record(seconds, { ...base(l), [A.outcome]: "failed" });
    },
    rewrapBatch: (kind, deks, seconds) => {
      rewrapped.add(deks, { [A.kind]: kind });
      if (seconds > 0) rewrapRate.record(deks / seconds, { [A.kind]: kind });
    },
    keyVaultThrottled: (vault, operation) => throttled.add(1, { [A.vault]: vault, [A.operation]: operation }),
    notificationFailed: (eventType) => notificationsFailed.add(1, { [A.eventType]: eventType }),
    setKeyHealth: (k) => {
      keys = [...k];
    },
    setLedgerVerified: (ok) => {
      ledgerOk = ok;
    },
    setLocksPastLease: (l) => {
      locks = [...l];
    },
  };
}

let current: RotationMetrics | undefined;

/** The process-wide instruments, bound to the global meter provider (a no-op one until
 * initTelemetry registers an SDK). */
export function rotationMetrics(): RotationMetrics {
  current ??= createRotationMetrics(metrics.getMeter("keyrotor"));
  return current;
}

/** Rebinds rotationMetrics() to the meter provider registered now (initTelemetry calls this). */
export function rebindRotationMetrics(meter: Meter = metrics.getMeter("keyrotor")): RotationMetrics {
  current = createRotationMetrics(meter);
  return current;
}
