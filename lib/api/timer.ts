// The policy timer's work: plan every managed key (lib/domain/planner.ts decides what is due,
// honouring windows and freezes), emit due expiry warnings exactly once, and start every due
// rotation under its deterministic rotationId. Running twice in one due period (or past due) starts
// nothing new: a rotationId names one durable instance, and a warning's ledger entryId is its
// warningId. Tenants' DEKs go through the fan-out orchestrator, a bounded number at a time. A KEK
// whose policy has branchKeys.every gets one branch-key rotation for its due branch keys
// (./branchSchedule.ts), named by the due period like any scheduled rotation.
import { RotationConflictError } from "../domain/errors";
import { rotationIds, type ManagedKey } from "../domain/keys";
import { INITIAL_PERIOD, Planner, type PlanItem } from "../domain/planner";
import { policyKey, type Policy } from "../domain/policy";
import { createLogger, rotationMetrics, type KeyHealth, type LockPastLease } from "../telemetry";
import { DURABLE } from "../orchestration/names";
import { startRotation } from "../orchestration/start";
import { instanceIdFor, type DekFanOutSchema } from "../orchestration/workflows";
import { dekPeriodRotationId, periodRotationFailed } from "../orchestration/dekFanOut";
import type { z } from "zod";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";
import { eligibleForRetirement, policyOf, retirementId } from "./retirement";
import { branchKeysPlanOf, branchKeysRotationRequest } from "./branchSchedule";

export const TIMER_ACTOR = "system:timer";
/** Rotations started at once by one run (each start waits for its lock decision). */
const START_CONCURRENCY = 4;
const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

export interface TimerReport {
  at: string;
  isPastDue: boolean;
  keys: number;
  started: string[];
  /** Due rotations whose instance already exists (running, or completed in this due period). */
  alreadyStarted: string[];
  /** Due rotations refused because another rotation of the key holds its lock. */
  conflicts: { rotationId: string; heldBy?: string }[];
  warnings: string[];
  /** tenants: the due period's tenants this run saw (the fan-out pages the tenants index itself). */
  dekFanOuts: { instanceId: string; tenants: number; status: "started" | "alreadyRunning" | "awaitingPerson" }[];
  /** Scheduled DEK rotations that failed in their due period: never re-run by the timer ("failures stop
   * progress"); a person finds the cause and re-runs them by hand. Alerted once (ledger + event). */
  awaitingPerson: { rotationId: string; keyId: string; alerted: boolean }[];
  /** Retirements of old versions past their overlap (signing: retainFor) with no references left;
   * refused ones (a rotation holds the key) are in `conflicts` and start again on a later run. */
  retirements: { rotationId: string; keyId: string; versions: string[]; status: "started" | "alreadyRunning" | "alreadyCompleted" }[];
  /** Scheduled branch-key rotations (policy branchKeys.every) of KEKs whose primary branch keys are
   * due; refused ones (a rotation holds the KEK) are in `conflicts` and start again on a later run. */
  branchRotations: { rotationId: string; keyId: string; branchIds: number; status: "started" | "alreadyRunning" | "alreadyCompleted" }[];
  failures: { keyId: string; message: string }[];
}

export interface TimerOptions {
  isPastDue?: boolean;
  log?: (line: string) => void;
  /** Passed to startRotation: how long to wait for each lock decision. Default 0: the timer starts
   * and moves on (functionTimeout bounds the run); each orchestration records its own outcome. */
  decisionTimeoutMs?: number;
}

export function dekFanOutInstanceId(period: string): string {
  return instanceIdFor(rotationIds.dekFanOut(period));
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A key due this long and still not rotated is overdue: the timer starts a due rotation at once
 * and promotion (which moves lastRotatedAt) comes minutes later, so an hour means it is stuck. */
export const OVERDUE_GRACE_MS = 3_600_000;

/** The key's health as the gauges show it, from the plan the timer computed anyway. */
export function keyHealthOf(key: ManagedKey, item: PlanItem, now: Date): KeyHealth {
  const nowMs = now.getTime();
  const expiresMs = item.expiresAt ? Date.parse(item.expiresAt) : undefined;
  const dueMs = item.dueAt ? Date.parse(item.dueAt) : undefined;
  const periodMs = item.slot && item.slot !== INITIAL_PERIOD ? Date.parse(item.slot) : undefined;
  // A rotation is due when one starts now or is scheduled before the primary expires.
  const rotationDue = item.dueNow || (dueMs !== undefined && (expiresMs === undefined || dueMs < expiresMs));
  const overdue = item.reason === "overdue"
    || (periodMs !== undefined && periodMs <= nowMs && !item.dueNow)
    || (item.dueNow && dueMs !== undefined && nowMs - dueMs > OVERDUE_GRACE_MS);
  return {
    keyId: key.keyId, kind: key.kind, rotationDue, overdue,
    ...(expiresMs !== undefined ? { daysToExpiry: (expiresMs - nowMs) / 86_400_000 } : {}),
    // Tenants' DEKs keep their secondaries by design (data stays encrypted under them), and one
    // series per tenant would swamp the metric: only vault keys and secrets report it.
    ...(key.kind !== "dek" ? { oldestSecondaryAgeSeconds: oldestSecondaryAge(key, nowMs) } : {}),
  };
}

/** Seconds since the oldest secondary version was superseded (by the next newer version). A
 * secondary is a version not yet proven unreferenced (retirement needs that proof), so this is the
 * inventory's view of old-key usage; 0 when no secondary is left. */
function oldestSecondaryAge(key: ManagedKey, nowMs: number): number {
  const created = key.versions.map((v) => Date.parse(v.createdAt)).filter((t) => !Number.isNaN(t));
  let oldest = 0;
  for (const v of key.versions) {
    if (v.state !== "secondary") continue;
    const t = Date.parse(v.createdAt);
    const supersededAt = Math.min(...created.filter((c) => c > t));
    if (Number.isFinite(supersededAt)) oldest = Math.max(oldest, (nowMs - supersededAt) / 1000);
  }
  return Math.max(0, oldest);
}

/** Locks held past their lease, read from the keyLock entities when the client can. DEKs are left
 * out (one read per tenant per run would cost more than it tells: the tenant's next rotation takes
 * a stale lock over, audited as LockBroken). A failed read is logged, never fatal. */
async function locksPastLease(client: RotationClient, keyIds: string[], now: Date, warn: (msg: string, keyId: string) => void): Promise<LockPastLease[] | undefined> {
  const read = client.readLockState?.bind(client);
  if (!read) return undefined;
  const out: LockPastLease[] = [];
  await pool(keyIds, START_CONCURRENCY * 2, async (keyId) => {
    try {
      const lease = (await read(keyId))?.holder;
      const past = lease ? (now.getTime() - Date.parse(lease.leaseUntil)) / 1000 : 0;
      if (past > 0) out.push({ keyId, secondsPastLease: past });
    } catch (err) {
      warn(`could not read the lock: ${(err as Error).message}`.slice(0, 300), keyId);
    }
  });
  return out;
}

export async function runPolicyTimer(s: ApiServices, client: RotationClient, opts: TimerOptions = {}): Promise<TimerReport> {
  const sink = opts.log;
  const logger = createLogger("timer", {}, sink ? (_level, line) => sink(line) : () => {});
  const now = s.clock.now();
  const report: TimerReport = { at: now.toISOString(), isPastDue: opts.isPastDue ?? false, keys: 0, started: [], alreadyStarted: [], conflicts: [], warnings: [], dekFanOuts: [], awaitingPerson: [], retirements: [], branchRotations: [], failures: [] };
  if (report.isPastDue) logger.info("past-due run: planning as of now, as any other run");
  const policies = await s.policies.all();
  const planner = new Planner(now, policies, "P1D");
  const policyByKey = new Map(policies.map((p) => [policyKey(p.tenant, p.policyId), p]));
  const due: PlanItem[] = [];
  const retire: { key: ManagedKey; policy: Policy }[] = [];
  const branchScheduled: { key: ManagedKey; policy: Policy }[] = [];
  const dekByPeriod = new Map<string, string[]>();
  const health: KeyHealth[] = [];
  const lockable: string[] = [];
  for await (const { key } of s.inventory.list()) {
    report.keys++;
    const item = planner.planKey(key);
    health.push(keyHealthOf(key, item, now));
    if (key.kind !== "dek") lockable.push(key.keyId);
    for (const w of item.warnings.filter((x) => x.due)) {
      try {
        if (await emitWarning(s, item, w)) report.warnings.push(w.warningId);
      } catch (err) {
        report.failures.push({ keyId: key.keyId, message: (err as Error).message });
      }
    }
    const policy = policyOf(key, policyByKey);
    // A key due for rotation now retires on a later run: the rotation would hold its lock anyway.
    if (policy?.status === "active" && !item.dueNow && key.kind !== "dek") retire.push({ key, policy });
    // Likewise its branch keys: a KEK due now rotates first (its rotation holds the lock).
    if (policy?.branchKeys && !item.dueNow && key.kind === "kek") branchScheduled.push({ key, policy });
    if (!item.dueNow || !item.rotationId || !item.slot) continue;
    if (key.kind === "dek") dekByPeriod.set(item.slot, [...(dekByPeriod.get(item.slot) ?? []), key.tenant]);
    else due.push(item);
  }

  await pool(due, START_CONCURRENCY, async (item) => {
    const rotationId = item.rotationId!;
    try {
      const r = await startRotation(client, {
        rotationId, keyId: item.keyId, trigger: "schedule", actor: TIMER_ACTOR, reason: `scheduled rotation (${item.reason}, slot ${item.slot})`,
      }, { decisionTimeoutMs: opts.decisionTimeoutMs ?? 0 });
      (r.status === "started" ? report.started : report.alreadyStarted).push(rotationId);
    } catch (err) {
      if (err instanceof RotationConflictError) {
        report.conflicts.push({ rotationId, ...(err.runningRotationId ? { heldBy: err.runningRotationId } : {}) });
        logger.warn(`not started: ${err.message}`, { rotationId, keyId: item.keyId, phase: "aborted", errorCode: err.code, heldBy: err.runningRotationId });
      } else {
        report.failures.push({ keyId: item.keyId, message: (err as Error).message });
      }
    }
  });

  await pool(retire, START_CONCURRENCY, async ({ key, policy }) => {
    try {
      await startRetirement(s, client, key, policy, now, report, opts, logger);
    } catch (err) {
      report.failures.push({ keyId: key.keyId, message: (err as Error).message });
    }
  });

  await pool(branchScheduled, START_CONCURRENCY, async ({ key, policy }) => {
    try {
      await startBranchKeyRotation(s, client, planner, key, policy, report, opts, logger);
    } catch (err) {
      report.failures.push({ keyId: key.keyId, message: (err as Error).message });
    }
  });

  for (const [period, tenants] of dekByPeriod) {
    const instanceId = dekFanOutInstanceId(period);
    try {
      const existing = await client.getStatus(instanceId).catch((err: unknown) => {
        if (/404|not found/i.test((err as Error).message ?? "")) return undefined;
        throw err;
      });
      if (existing?.runtimeStatus && ACTIVE.has(existing.runtimeStatus)) {
        report.dekFanOuts.push({ instanceId, tenants: tenants.length, status: "alreadyRunning" });
        continue;
      }
      // The period's fan-out ran before: a tenant still due either failed (it waits for a person and
      // is never re-run under the same period id) or was refused or is new (a restarted fan-out, which
      // leaves failed ones off its pages, rotates those).
      if (existing?.runtimeStatus && !(await anyNotFailed(s, tenants, period, report, logger))) {
        report.dekFanOuts.push({ instanceId, tenants: tenants.length, status: "awaitingPerson" });
        continue;
      }
      // No tenant list: the fan-out pages the tenants index (input and history stay one page).
      const input: z.input<typeof DekFanOutSchema> = { slot: period, trigger: "schedule", actor: TIMER_ACTOR, concurrency: s.settings.dekConcurrency };
      await client.startNew(DURABLE.orchestrators.dekFanOut, { instanceId, input });
      report.dekFanOuts.push({ instanceId, tenants: tenants.length, status: "started" });
    } catch (err) {
      report.failures.push({ keyId: `dek:*@${period}`, message: (err as Error).message });
    }
  }
  rotationMetrics().setKeyHealth(health);
  const locks = await locksPastLease(client, lockable, now, (msg, keyId) => logger.warn(msg, { keyId }));
  if (locks) rotationMetrics().setLocksPastLease(locks);
  for (const l of locks ?? []) logger.warn("lock held past its lease", { keyId: l.keyId, secondsPastLease: Math.round(l.secondsPastLease) });
  for (const started of report.started) logger.info("rotation started", { rotationId: started, phase: "requested", trigger: "schedule" });
  for (const f of report.failures) logger.error(`failed: ${f.message}`.slice(0, 500), { keyId: f.keyId });
  for (const r of report.retirements.filter((x) => x.status === "started")) logger.info("retirement started", { rotationId: r.rotationId, keyId: r.keyId, versions: r.versions.join(" ") });
  for (const r of report.branchRotations.filter((x) => x.status === "started")) logger.info("branch-key rotation started", { rotationId: r.rotationId, keyId: r.keyId, branchKeys: r.branchIds, trigger: "schedule" });
  logger.info(`${report.keys} keys: started ${report.started.length}, already started ${report.alreadyStarted.length}, conflicts ${report.conflicts.length}, warnings ${report.warnings.length}, DEK fan-outs ${report.dekFanOuts.length}, retirements ${report.retirements.length}, branch-key rotations ${report.branchRotations.length}, failures ${report.failures.length}`, {
    keys: report.keys, overdue: health.filter((h) => h.overdue).length, started: report.started.length, failures: report.failures.length,
  });
  return report;
}

/** Sorts the period's still-due tenants: each whose rotation in the period failed is alerted once and
 * left to a person; returns whether any other (refused, new) remains for a restarted fan-out. */
async function anyNotFailed(s: ApiServices, tenants: string[], period: string, report: TimerReport, logger: ReturnType<typeof createLogger>): Promise<boolean> {
  let other = false;
  for (const tenant of tenants) {
    if (!(await periodRotationFailed(s.ledger, tenant, period))) {
      other = true;
      continue;
    }
    const rotationId = dekPeriodRotationId(tenant, period);
    const keyId = `dek:${tenant}`;
    const alerted = await alertAwaitingPerson(s, keyId, rotationId);
    report.awaitingPerson.push({ rotationId, keyId, alerted });
    const msg = `scheduled DEK rotation ${rotationId} failed; the timer will not re-run it: manual intervention needed (find the cause, then re-run it: POST /api/rotations {"keyId":"${keyId}","mode":"manual"})`;
    if (alerted) logger.error(msg, { rotationId, keyId, phase: "failed" });
    else logger.warn(`still waiting for a person: ${msg}`, { rotationId, keyId, phase: "failed" });
  }
  return other;
}

/** The once-only alert that a failed scheduled rotation waits for a person: an Aborted ledger entry
 * (entryId `<rotationId>#awaitingPerson`) and a RotationFailed event. Returns whether it was new. */
async function alertAwaitingPerson(s: ApiServices, keyId: string, rotationId: string): Promise<boolean> {
  const entryId = `${rotationId}#awaitingPerson`;
  if (await s.ledger.byEntryId(keyId, entryId)) return false;
  const details = { manualInterventionRequired: true, failedRotationId: rotationId, timerRetries: false };
  await s.ledger.append({
    keyId, entryId, type: "Aborted", rotationId, actor: TIMER_ACTOR, trigger: "schedule",
    reason: "the scheduled rotation failed; the timer does not re-run it: manual intervention needed (a person finds the cause and re-runs the rotation)",
    details,
  });
  await notify(s, { type: "RotationFailed", keyId, occurrenceId: entryId, rotationId, details });
  return true;
}

/** DEK rows the retirement pre-check reads per KEK per timer run: one leg of the paged count
 * (~10 Table pages, about a second). The timer runs under functionTimeout, so it never counts a
 * whole DEK table (minutes at 1M DEKs); the retirement orchestration counts it all, in legs. */
export const TIMER_REFERENCE_ROWS = 10_000;

/** References per version of the KEK as far as one bounded leg sees them. A version seen referenced
 * is referenced (counts only grow with more rows), so it is not handed to retirement; `complete`
 * says the leg reached the end of the table and the zeros are a proof too. Without a paged counter
 * nothing is counted here: the retirement workflow's own count (in legs) is the proof. */
async function referencesSeen(s: ApiServices, kekKeyId: string): Promise<{ byVersion: Record<string, number>; complete: boolean } | undefined> {
  const counter = s.references;
  if (!counter?.countByKekVersionPage) return undefined;
  const leg = await counter.countByKekVersionPage(kekKeyId, { maxRows: TIMER_REFERENCE_ROWS });
  return { byVersion: leg.byVersion, complete: leg.continuation === undefined };
}

/** Starts the retirement of the key's old versions whose overlap is over and whose references are
 * zero as far as one bounded leg of the count sees (referencesSeen), through the rotations' start path (deterministic instance id, lock decision awaited). It is
 * named after the newest eligible version: the workflow retires every eligible version under one
 * lock, and a version that becomes eligible later gets a retirement of its own. */
async function startRetirement(
  s: ApiServices, client: RotationClient, key: ManagedKey, policy: Policy, now: Date, report: TimerReport, opts: TimerOptions,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  if (eligibleForRetirement(key, policy, now).length === 0) return; // the common case: no count needed
  const references = key.kind === "kek" ? await referencesSeen(s, key.keyId) : undefined;
  const versions = eligibleForRetirement(key, policy, now, references?.byVersion);
  const newest = versions.at(-1);
  if (!newest) return;
  const rotationId = retirementId(key.keyId, newest);
  const proof = key.kind !== "kek" || references?.complete
    ? "no references remain"
    : `${references ? `no references seen in the first ${TIMER_REFERENCE_ROWS} DEKs; ` : ""}the retirement counts them all and keeps any version still referenced`;
  try {
    const r = await startRotation(client, {
      rotationId, keyId: key.keyId, trigger: "schedule", actor: TIMER_ACTOR,
      reason: `retire ${versions.join(", ")}: ${key.kind === "signing" ? "retainFor" : "overlap"} is over and ${proof}`,
    }, { orchestrator: DURABLE.orchestrators.retirement, decisionTimeoutMs: opts.decisionTimeoutMs ?? 0 });
    report.retirements.push({ rotationId, keyId: key.keyId, versions, status: r.status });
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    report.conflicts.push({ rotationId, ...(err.runningRotationId ? { heldBy: err.runningRotationId } : {}) });
    logger.warn(`retirement not started: ${err.message}`, { rotationId, keyId: key.keyId, phase: "aborted", errorCode: err.code, heldBy: err.runningRotationId });
  }
}

/** Starts the KEK's scheduled branch-key rotation when its primary branch keys are due (the planner
 * decides, windows, freezes and status included), through the rotations' start path under the due
 * period's id: a second firing or a second timer instance finds the same instance. A rotation of the
 * KEK holding its lock refuses it; the next firing tries again under the same id. */
async function startBranchKeyRotation(
  s: ApiServices, client: RotationClient, planner: Planner, key: ManagedKey, policy: Policy, report: TimerReport, opts: TimerOptions,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  const due = await branchKeysPlanOf(s, planner, key, policy);
  if (!due?.dueNow || due.branchIds.length === 0) return;
  try {
    const r = await startRotation(client, branchKeysRotationRequest(key.keyId, due, TIMER_ACTOR), { decisionTimeoutMs: opts.decisionTimeoutMs ?? 0 });
    report.branchRotations.push({ rotationId: due.rotationId, keyId: key.keyId, branchIds: due.branchIds.length, status: r.status });
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    report.conflicts.push({ rotationId: due.rotationId, ...(err.runningRotationId ? { heldBy: err.runningRotationId } : {}) });
    logger.warn(`branch-key rotation not started: ${err.message}`, { rotationId: due.rotationId, keyId: key.keyId, phase: "aborted", errorCode: err.code, heldBy: err.runningRotationId });
  }
}

/** Records and announces one expiry warning unless it was already recorded. Returns whether it was new. */
async function emitWarning(s: ApiServices, item: PlanItem, w: PlanItem["warnings"][number]): Promise<boolean> {
  if (await s.ledger.byEntryId(item.keyId, w.warningId)) return false;
  const daysLeft = Math.max(0, Math.floor((Date.parse(w.expiresAt) - s.clock.now().getTime()) / 86_400_000));
  await s.ledger.append({
    keyId: item.keyId, entryId: w.warningId, type: "ExpiryWarning", actor: TIMER_ACTOR,
    details: { version: w.version, threshold: w.threshold, expiresAt: w.expiresAt },
  });
  await notify(s, {
    type: "ExpiryWarning", keyId: item.keyId, kind: item.kind, tenant: item.tenant, occurrenceId: w.warningId,
    details: { version: w.version, threshold: w.threshold, expiresAt: w.expiresAt, daysLeft },
  });
  return true;
}
