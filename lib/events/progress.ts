// RewrapProgress is rate-limited: a 1M-DEK rewrap runs thousands of batches, and consumers need a
// heartbeat, not a firehose. Pure, so an orchestrator can decide deterministically from what it
// last published (kept in its own state).

export interface ProgressPoint {
  /** ISO instant (an orchestrator passes context.df.currentUtcDateTime). */
  at: string;
  rewrapped: number;
  total: number;
}

export interface ProgressLimit {
  /** At most one event per this interval (default 60 s)... */
  minIntervalMs: number;
  /** ...unless progress jumped by at least this many percentage points (default 25). */
  minPercentStep: number;
}

export const DEFAULT_PROGRESS_LIMIT: ProgressLimit = { minIntervalMs: 60_000, minPercentStep: 25 };

/** Whether to publish `next`, given the last published point (undefined = none yet). The first
 * and the final point (rewrapped = total) always go out; nothing goes out without progress. */
export function shouldPublishProgress(last: ProgressPoint | undefined, next: ProgressPoint, limit: ProgressLimit = DEFAULT_PROGRESS_LIMIT): boolean {
  if (!last) return true;
  if (next.rewrapped <= last.rewrapped) return false;
  if (next.total > 0 && next.rewrapped >= next.total) return true;
  const elapsed = Date.parse(next.at) - Date.parse(last.at);
  if (elapsed >= limit.minIntervalMs) return true;
  const pct = (n: number): number => (next.total > 0 ? (100 * n) / next.total : 0);
  return pct(next.rewrapped) - pct(last.rewrapped) >= limit.minPercentStep;
}
