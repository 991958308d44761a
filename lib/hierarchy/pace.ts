// Remote calls of the hierarchy's workflows go through one Pacer per run: a token bucket at the
// run's share of the vault's rate (lib/domain/rateControl.ts), and Key Vault's backoff on a 429 or
// any other transient failure (DependencyUnavailableError), so a throttled vault slows the run
// down and never fails it while attempts remain.
import { DependencyUnavailableError } from "../domain/errors";
import { acquire, keyVaultBackoffMs, TokenBucket } from "../domain/rateControl";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Pacer {
  private readonly bucket: TokenBucket | undefined;
  calls = 0;
  throttled = 0;

  /** ratePerSec 0 = unpaced. */
  constructor(ratePerSec: number, private readonly maxAttempts = 6) {
    // No burst: calls leave evenly spaced, so the jitter a loaded host adds on the way does not
    // bunch them into the vault's own short window (a 429 is a call spent for nothing).
    this.bucket = ratePerSec > 0 ? new TokenBucket({ ratePerSecond: ratePerSec, burst: 1 }) : undefined;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.bucket) await acquire(this.bucket, Date.now, sleep);
      this.calls++;
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof DependencyUnavailableError)) throw err;
        this.throttled++;
        const wait = keyVaultBackoffMs(attempt, Math.random(), { maxAttempts: this.maxAttempts, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) });
        if (wait === undefined) throw err;
        await sleep(wait);
      }
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once. On a failure no new item starts, and the
 * call rejects only once the items in flight have settled: a failed step leaves nothing running
 * behind it that could race the resumed run. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const results = await Promise.allSettled(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
}

/** At most `limit` calls of `run` in flight at once; the others queue in call order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= Math.max(1, this.limit)) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
