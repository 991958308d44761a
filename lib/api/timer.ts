// The policy timer's work: plan every managed key (lib/domain/planner.ts decides what is due,
// honouring windows and freezes), emit due expiry warnings exactly once, and start every due
// rotation under its deterministic rotationId. Running twice in one slot (or past due) starts
// nothing new: a rotationId names one durable instance, and a warning's ledger entryId is its
// warningId. Tenants' DEKs go through the fan-out orchestrator, a bounded number at a time.
import { RotationConflictError } from "../domain/errors";
import { Planner, type PlanItem } from "../domain/planner";
import { DURABLE } from "../orchestration/names";
import { startRotation } from "../orchestration/start";
import { instanceIdFor, type DekFanOutSchema } from "../orchestration/workflows";
import type { z } from "zod";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";

export const TIMER_ACTOR = "system:timer";
/** Rotations started at once by one run (each start waits for its lock decision). */
const START_CONCURRENCY = 4;
const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

export interface TimerReport {
  at: string;
  isPastDue: boolean;
  keys: number;
  started: string[];
  /** Due rotations whose instance already exists (running, or completed in this slot). */
  alreadyStarted: string[];
  /** Due rotations refused because another rotation of the key holds its lock. */
  conflicts: { rotationId: string; heldBy?: string }[];
  warnings: string[];
  dekFanOuts: { instanceId: string; tenants: number; status: "started" | "alreadyRunning" }[];
  failures: { keyId: string; message: string }[];
}

export interface TimerOptions {
  isPastDue?: boolean;
  log?: (line: string) => void;
  /** Passed to startRotation: how long to wait for each lock decision. */
  decisionTimeoutMs?: number;
}

export function dekFanOutInstanceId(slot: string): string {
  return instanceIdFor(`dek-fanout@${slot}`);
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function runPolicyTimer(s: ApiServices, client: RotationClient, opts: TimerOptions = {}): Promise<TimerReport> {
  const log = opts.log ?? (() => {});
  const now = s.clock.now();
  const report: TimerReport = { at: now.toISOString(), isPastDue: opts.isPastDue ?? false, keys: 0, started: [], alreadyStarted: [], conflicts: [], warnings: [], dekFanOuts: [], failures: [] };
  if (report.isPastDue) log("[keyrotor] [timer] past-due run: planning as of now, as any other run");
  const planner = new Planner(now, await s.policies.all(), "P1D");
  const due: PlanItem[] = [];
  const dekBySlot = new Map<string, string[]>();
  for await (const { key } of s.inventory.list()) {
    report.keys++;
    const item = planner.planKey(key);
    for (const w of item.warnings.filter((x) => x.due)) {
      try {
        if (await emitWarning(s, item, w)) report.warnings.push(w.warningId);
      } catch (err) {
        report.failures.push({ keyId: key.keyId, message: (err as Error).message });
      }
    }
    if (!item.dueNow || !item.rotationId || !item.slot) continue;
    if (key.kind === "dek") dekBySlot.set(item.slot, [...(dekBySlot.get(item.slot) ?? []), key.tenant]);
    else due.push(item);
  }

  await pool(due, START_CONCURRENCY, async (item) => {
    const rotationId = item.rotationId!;
    try {
      const r = await startRotation(client, {
        rotationId, keyId: item.keyId, trigger: "schedule", actor: TIMER_ACTOR, reason: `scheduled rotation (${item.reason}, slot ${item.slot})`,
      }, { ...(opts.decisionTimeoutMs !== undefined ? { decisionTimeoutMs: opts.decisionTimeoutMs } : {}) });
      (r.status === "started" ? report.started : report.alreadyStarted).push(rotationId);
    } catch (err) {
      if (err instanceof RotationConflictError) {
        report.conflicts.push({ rotationId, ...(err.runningRotationId ? { heldBy: err.runningRotationId } : {}) });
        log(`[keyrotor] [timer] ${rotationId} not started: ${err.message}`);
      } else {
        report.failures.push({ keyId: item.keyId, message: (err as Error).message });
      }
    }
  });

  for (const [slot, tenants] of dekBySlot) {
    const instanceId = dekFanOutInstanceId(slot);
    try {
      const existing = await client.getStatus(instanceId).catch((err: unknown) => {
        if (/404|not found/i.test((err as Error).message ?? "")) return undefined;
        throw err;
      });
      if (existing?.runtimeStatus && ACTIVE.has(existing.runtimeStatus)) {
        report.dekFanOuts.push({ instanceId, tenants: tenants.length, status: "alreadyRunning" });
        continue;
      }
      const input: z.input<typeof DekFanOutSchema> = { slot, tenants: tenants.sort(), trigger: "schedule", actor: TIMER_ACTOR, concurrency: s.settings.dekConcurrency };
      await client.startNew(DURABLE.orchestrators.dekFanOut, { instanceId, input });
      report.dekFanOuts.push({ instanceId, tenants: tenants.length, status: "started" });
    } catch (err) {
      report.failures.push({ keyId: `dek:*@${slot}`, message: (err as Error).message });
    }
  }
  log(`[keyrotor] [timer] ${report.keys} keys: started ${report.started.length}, already started ${report.alreadyStarted.length}, conflicts ${report.conflicts.length}, warnings ${report.warnings.length}, DEK fan-outs ${report.dekFanOuts.length}, failures ${report.failures.length}`);
  return report;
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
