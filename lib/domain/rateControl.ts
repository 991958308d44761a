// Pacing for the rewrap. Key Vault's limit is per vault across every function instance, so the
// orchestrator owns a vault's budget and hands each activity a share; each activity paces itself
// with a token bucket and reports its 429s; the orchestrator adapts how many activities run at once
// (additive increase, multiplicative decrease) to approach the budget without 429 storms.
// Pure and clock-free: every method takes `nowMs`, so tests drive it with a fake clock.

export interface TokenBucketOptions {
  /** Tokens added per second (the activity's share of the vault budget). */
  ratePerSecond: number;
  /** Most tokens that may accumulate; 1 s of rate by default. Small bursts keep the vault's
   * 10-second window from being spent in its first second. */
  burst?: number;
}

/** Classic token bucket. Starts empty (a fresh activity must not add a burst on top of the others). */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  private tokens = 0;
  private lastMs: number | undefined;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.ratePerSecond > 0)) throw new RangeError(`[keyrotor] [rateControl] ratePerSecond must be > 0, got ${opts.ratePerSecond}`);
    this.ratePerSecond = opts.ratePerSecond;
    this.burst = Math.max(1, opts.burst ?? opts.ratePerSecond);
  }

  private refill(nowMs: number): void {
    if (this.lastMs === undefined) {
      this.lastMs = nowMs;
      return;
    }
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.lastMs = Math.max(this.lastMs, nowMs);
  }

  /** Takes `n` tokens if available and returns 0; otherwise takes nothing and returns the
   * milliseconds to wait before they will be. */
  tryTake(nowMs: number, n = 1): number {
    if (n > this.burst) throw new RangeError(`[keyrotor] [rateControl] cannot take ${n} tokens from a bucket of ${this.burst}`);
    this.refill(nowMs);
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.ceil(((n - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Tokens available now (for progress reports). */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }
}

/** Waits on the bucket with the given sleep (an activity passes a real timer; tests a fake clock). */
export async function acquire(bucket: TokenBucket, now: () => number, sleep: (ms: number) => Promise<void>, n = 1): Promise<void> {
  for (;;) {
    const wait = bucket.tryTake(now(), n);
    if (wait === 0) return;
    await sleep(wait);
  }
}

export interface AimdOptions {
  min: number;
  max: number;
  initial: number;
  /** Added after a window without throttling. */
  increase?: number;
  /** Multiplied on a throttled window (0 < factor < 1). */
  decreaseFactor?: number;
  /** After a decrease, further 429s within this time are echoes of the same overload and do not
   * decrease again (the vault counts over 10 s, so a burst of 429s is one signal, not many). */
  cooldownMs?: number;
  /** A window whose throttled share of calls is at most this holds the level instead of
   * decreasing it: a few 429s from requests bunched in transit (e.g. while connections are being
   * opened) are not a sign of overload, and halving on them costs far more than they do. 0 (the
   * default) = any 429 decreases. */
  tolerance?: number;
}

/** Additive-increase / multiplicative-decrease controller for a concurrency (or rate) level. */
export class AimdController {
  private level: number;
  private lastDecreaseMs: number | undefined;
  readonly min: number;
  readonly max: number;
  readonly increase: number;
  readonly decreaseFactor: number;
  readonly cooldownMs: number;
  readonly tolerance: number;

  constructor(opts: AimdOptions) {
    if (!(opts.min >= 1 && opts.max >= opts.min)) throw new RangeError(`[keyrotor] [rateControl] need 1 <= min <= max, got ${opts.min}..${opts.max}`);
    this.min = opts.min;
    this.max = opts.max;
    this.increase = opts.increase ?? 1;
    this.decreaseFactor = opts.decreaseFactor ?? 0.5;
    if (!(this.decreaseFactor > 0 && this.decreaseFactor < 1)) throw new RangeError(`[keyrotor] [rateControl] decreaseFactor must be in (0, 1)`);
    this.cooldownMs = opts.cooldownMs ?? 10_000;
    this.tolerance = opts.tolerance ?? 0;
    if (!(this.tolerance >= 0 && this.tolerance < 1)) throw new RangeError(`[keyrotor] [rateControl] tolerance must be in [0, 1)`);
    this.level = clamp(opts.initial, this.min, this.max);
  }

  /** The current level, rounded down to a whole number of workers. */
  get current(): number {
    return Math.floor(this.level);
  }

  /** Feeds one observation window: how many calls, how many of them were throttled. Returns the new level. */
  report(window: { calls: number; throttled: number }, nowMs: number): number {
    if (window.throttled > 0 && window.throttled <= window.calls * this.tolerance) return this.current; // hold
    if (window.throttled > 0) {
      const cooling = this.lastDecreaseMs !== undefined && nowMs - this.lastDecreaseMs < this.cooldownMs;
      if (!cooling) {
        this.level = Math.max(this.min, this.level * this.decreaseFactor);
        this.lastDecreaseMs = nowMs;
      }
    } else if (window.calls > 0) {
      this.level = Math.min(this.max, this.level + this.increase);
    }
    return this.current;
  }
}

/** Splits a vault budget (ops/s) evenly among the activities in flight. */
export function shareOfBudget(budgetPerSecond: number, activitiesInFlight: number): number {
  return budgetPerSecond / Math.max(1, activitiesInFlight);
}

/** Key Vault's guidance on 429: back off 1, 2, 4, 8, 16 s. Jittered into [base/2, base] so
 * activities throttled together do not retry together; a Retry-After the vault sent wins when longer.
 * `attempt` counts from 0; returns undefined when the attempts are exhausted. */
export function keyVaultBackoffMs(attempt: number, random: number, opts: { maxAttempts?: number; retryAfterMs?: number } = {}): number | undefined {
  const maxAttempts = opts.maxAttempts ?? 5;
  if (attempt >= maxAttempts) return undefined;
  const base = 1000 * 2 ** Math.min(attempt, 4);
  const jittered = base / 2 + (base / 2) * clamp(random, 0, 1);
  return Math.round(Math.max(jittered, opts.retryAfterMs ?? 0));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
