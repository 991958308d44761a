// Key Vault's per-vault service limits as weighted token buckets. The unit is one RSA-2048
// software-key transaction; a costlier key type spends proportionally more (limits per 10 s,
// Microsoft's service-limits page). CREATE and secret/other transactions have their own buckets.
// Rejected requests spend nothing, as in Key Vault vaults.
import { performance } from "node:perf_hooks";
import type { KeyVaultThrottleOptions } from "./index";

export const DEFAULT_LIMITS_PER_10S: Readonly<Record<string, number>> = {
  rsa2048: 4000, rsa2048Hsm: 2000,
  rsa3072: 1000, rsa3072Hsm: 500,
  rsa4096: 500, rsa4096Hsm: 250,
  ec: 4000, ecHsm: 2000,
  // Managed HSM AES key wrap: ~9k operations/s per HSM.
  oct: 90_000, octHsm: 90_000,
  create: 20, createHsm: 10,
  secrets: 4000,
};

/** Which bucket a request draws from and its limit class within it. */
export interface ThrottleClass {
  bucket: "crypto" | "create" | "secrets";
  limitClass: string;
}

class Bucket {
  private tokens: number;
  private last = performance.now();
  constructor(private readonly capacity: number, private readonly perMs: number) {
    this.tokens = capacity;
  }

  take(cost: number): boolean {
    const t = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.perMs);
    this.last = t;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}

export class Throttle {
  private readonly limits: Record<string, number>;
  private readonly buckets = new Map<string, Bucket>();
  private readonly flat: Bucket | undefined;

  constructor(opts: KeyVaultThrottleOptions) {
    const scale = opts.scale ?? 1;
    this.limits = {};
    for (const [k, v] of Object.entries({ ...DEFAULT_LIMITS_PER_10S, ...opts.limits })) {
      if (v !== undefined) this.limits[k] = v * scale;
    }
    if (opts.ratePerSecond !== undefined) {
      // A burst of at most 100 ms keeps the achieved rate within a few percent over any
      // window of a few seconds.
      const rate = opts.ratePerSecond;
      this.flat = new Bucket(Math.max(1, rate / 10), rate / 1000);
    }
  }

  /** true = admitted (tokens spent); false = answer 429. */
  admit(cls: ThrottleClass): boolean {
    if (this.flat) return this.flat.take(1);
    const base = cls.bucket === "crypto" ? this.limits.rsa2048! : cls.bucket === "create" ? this.limits.create! : this.limits.secrets!;
    const limit = this.limits[cls.limitClass] ?? base;
    let bucket = this.buckets.get(cls.bucket);
    if (!bucket) {
      bucket = new Bucket(base, base / 10_000);
      this.buckets.set(cls.bucket, bucket);
    }
    return bucket.take(base / limit);
  }
}
