// Pure decisions of the rewrap orchestrator (deterministic, so replay-safe): how a wave is made,
// how the vault budget is shared, how long a leg runs, what progress says.
import type { Cursor, RewrapProgress, RewrapTotals } from "./types";

export interface Wave {
  /** Cursors per range activity of this wave (one tenant is never in two activities). */
  ranges: Cursor[][];
  rest: Cursor[];
}

/** Up to `permits` range activities (one per open budget permit), each with up to `tenantsPerRange`
 * tenants, taken from the front. */
export function planWave(queue: readonly Cursor[], permits: number, tenantsPerRange: number): Wave {
  const n = Math.min(Math.max(1, permits), queue.length);
  if (n === 0) return { ranges: [], rest: [] };
  const k = Math.min(tenantsPerRange, Math.ceil(queue.length / n));
  const ranges: Cursor[][] = [];
  for (let i = 0; i < n; i++) ranges.push(queue.slice(i * k, (i + 1) * k));
  return { ranges: ranges.filter((r) => r.length > 0), rest: queue.slice(n * k) };
}

/** The rate the rewrap may spend now: the budget split in `maxPermits` permits, `level` of them
 * open (the AIMD level). 0 = unpaced. */
export function currentRate(budgetPerSec: number, level: number, maxPermits: number): number {
  return budgetPerSec > 0 ? (budgetPerSec * Math.min(level, maxPermits)) / maxPermits : 0;
}

/** Each activity of a wave gets an equal share of the current rate; in the tail (fewer tenants
 * than permits) the few left get the whole rate. */
export function sharePerRange(rate: number, ranges: number): number {
  return rate > 0 ? rate / Math.max(1, ranges) : 0;
}

/** DEKs per leg: the parent wakes about `targetLegs` times per pass whatever the number of DEKs
 * (and on the leg's time cap), so its history stays the same size for 20k or 20M DEKs. */
export function legSize(total: number, targetLegs: number, minLegDeks = 1): number {
  return Math.max(1, minLegDeks, Math.ceil(total / Math.max(1, targetLegs)));
}

export function progressOf(totals: RewrapTotals, total: number, startedMs: number, nowMs: number): RewrapProgress {
  const seconds = (nowMs - startedMs) / 1000;
  const perSec = seconds > 0 ? Math.round((totals.rewrapped / seconds) * 10) / 10 : 0;
  const left = Math.max(0, total - totals.rewrapped);
  return {
    rewrapped: totals.rewrapped, total: Math.max(total, totals.rewrapped), perSec, throttled: totals.throttled, scanned: totals.scanned,
    ...(perSec > 0 ? { eta: new Date(nowMs + (left / perSec) * 1000).toISOString() } : {}),
  };
}
