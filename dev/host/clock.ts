// Time for the dev host: real time for `npm start`, a manual clock for tests (durable timers fire
// only when the test advances it).

export interface HostClock {
  now(): Date;
  /** Calls `fn` once `now() >= at`; returns a function that cancels it. */
  schedule(at: Date, fn: () => void): () => void;
}

export class RealClock implements HostClock {
  now(): Date {
    return new Date();
  }

  schedule(at: Date, fn: () => void): () => void {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      if (cancelled) return;
      const wait = at.getTime() - Date.now();
      if (wait <= 0) {
        handle = setTimeout(fn, 0);
        return;
      }
      // setTimeout overflows above ~24.8 days: re-arm in steps.
      handle = setTimeout(arm, Math.min(wait, 2 ** 31 - 1));
    };
    arm();
    handle?.unref?.();
    return () => {
      cancelled = true;
      if (handle) clearTimeout(handle);
    };
  }
}

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to. Due callbacks run in time order during advance()/set(). */
export class ManualClock implements HostClock {
  private current: number;
  private seq = 0;
  private readonly pending = new Set<Pending>();

  constructor(start: Date | string = "2026-01-01T00:00:00.000Z") {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  schedule(at: Date, fn: () => void): () => void {
    const p: Pending = { at: at.getTime(), seq: this.seq++, fn };
    if (p.at <= this.current) {
      // Already due: fire on the next turn, like a timer whose time has passed.
      setImmediate(() => {
        if (this.pending.delete(p)) fn();
      });
    }
    this.pending.add(p);
    return () => {
      this.pending.delete(p);
    };
  }

  /** Moves time forward by `ms` and fires every callback that became due, earliest first. */
  advance(ms: number): void {
    this.set(new Date(this.current + ms));
  }

  set(to: Date | string): void {
    const target = new Date(to).getTime();
    if (target < this.current) throw new Error("[keyrotor] [devhost] [clock] the manual clock cannot go backwards");
    for (;;) {
      const due = [...this.pending].filter((p) => p.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.at);
      this.pending.delete(due);
      due.fn();
    }
    this.current = target;
  }

  /** Number of scheduled callbacks not yet fired. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Earliest scheduled instant, if any. */
  nextAt(): Date | undefined {
    let min: number | undefined;
    for (const p of this.pending) if (min === undefined || p.at < min) min = p.at;
    return min === undefined ? undefined : new Date(min);
  }
}
