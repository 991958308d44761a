// Backing off from Key Vault the way it asks: 1, 2, 4, 8, 16 s, jittered, bounded. Only transient
// Key Vault failures are retried; access, not-found and bad-request errors surface at once.
import { DependencyUnavailableError } from "../domain/errors";
import { keyVaultBackoffMs } from "../domain/rateControl";

export interface BackoffOptions {
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each wait (the rewrap counts its 429s here for the orchestrator). */
  onRetry?: (err: DependencyUnavailableError, attempt: number, waitMs: number) => void;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withKeyVaultBackoff<T>(call: () => Promise<T>, opts: BackoffOptions = {}): Promise<T> {
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError && err.dependency === "keyvault")) throw err;
      const wait = keyVaultBackoffMs(attempt, random(), { maxAttempts: opts.maxAttempts, retryAfterMs: err.retryAfterMs });
      if (wait === undefined) throw err;
      opts.onRetry?.(err, attempt, wait);
      await sleep(wait);
    }
  }
}
