import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { acquire, AimdController, keyVaultBackoffMs, shareOfBudget, TokenBucket } from "../../../lib/domain/rateControl";

describe("TokenBucket", () => {
  it("starts empty and grants one token per 1/rate seconds", () => {
    const b = new TokenBucket({ ratePerSecond: 10 });
    expect(b.tryTake(0)).toBe(100);
    expect(b.tryTake(100)).toBe(0);
    expect(b.tryTake(100)).toBe(100);
  });

  it("never grants more than rate × elapsed + burst, whatever the request pattern", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 5000, noNaN: true }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 300 }),
        (rate, burst, steps) => {
          const b = new TokenBucket({ ratePerSecond: rate, burst: Math.max(burst, 5) });
          let now = 1_000;
          const start = now;
          let granted = 0;
          b.tryTake(now, 1); // anchors the clock; the bucket starts empty
          for (const [dt, n] of steps) {
            now += dt;
            if (b.tryTake(now, n) === 0) granted += n;
          }
          expect(granted).toBeLessThanOrEqual((rate * (now - start)) / 1000 + b.burst + 1e-6);
        },
      ),
    );
  });

  it("caps accumulated tokens at the burst after a long idle time", () => {
    const b = new TokenBucket({ ratePerSecond: 100, burst: 5 });
    b.tryTake(0);
    expect(b.available(60_000)).toBe(5);
  });

  it("refuses a request larger than the burst instead of waiting forever", () => {
    const b = new TokenBucket({ ratePerSecond: 10, burst: 2 });
    expect(() => b.tryTake(0, 3)).toThrow(/cannot take 3 tokens/);
  });

  it("acquire waits exactly as long as the bucket says on a fake clock", async () => {
    const b = new TokenBucket({ ratePerSecond: 4, burst: 1 });
    let now = 0;
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    };
    for (let i = 0; i < 8; i++) await acquire(b, () => now, sleep);
    expect(now).toBe(2000); // 8 tokens at 4/s from an empty bucket
    expect(sleeps.every((ms) => ms === 250)).toBe(true);
  });
});

describe("AimdController", () => {
  it("increases additively after windows without throttling, up to max", () => {
    const c = new AimdController({ min: 1, max: 5, initial: 2, increase: 1 });
    expect(c.report({ calls: 10, throttled: 0 }, 0)).toBe(3);
    expect(c.report({ calls: 10, throttled: 0 }, 1)).toBe(4);
    c.report({ calls: 10, throttled: 0 }, 2);
    expect(c.report({ calls: 10, throttled: 0 }, 3)).toBe(5);
  });

  it("halves on a throttled window, never below min", () => {
    const c = new AimdController({ min: 2, max: 64, initial: 32, cooldownMs: 0 });
    expect(c.report({ calls: 100, throttled: 1 }, 0)).toBe(16);
    expect(c.report({ calls: 100, throttled: 5 }, 1)).toBe(8);
    c.report({ calls: 1, throttled: 1 }, 2);
    c.report({ calls: 1, throttled: 1 }, 3);
    expect(c.report({ calls: 1, throttled: 1 }, 4)).toBe(2);
  });

  it("treats 429s within the cooldown as one overload signal", () => {
    const c = new AimdController({ min: 1, max: 64, initial: 32, cooldownMs: 10_000 });
    expect(c.report({ calls: 10, throttled: 3 }, 0)).toBe(16);
    expect(c.report({ calls: 10, throttled: 3 }, 5_000)).toBe(16);
    expect(c.report({ calls: 10, throttled: 3 }, 10_000)).toBe(8);
  });

  it("holds its level on a window whose throttled share is within the tolerance, and halves beyond it", () => {
    const c = new AimdController({ min: 1, max: 8, initial: 8, cooldownMs: 0, tolerance: 0.02 });
    expect(c.report({ calls: 1000, throttled: 20 }, 0)).toBe(8);
    expect(c.report({ calls: 1000, throttled: 21 }, 1)).toBe(4);
    expect(c.report({ calls: 1000, throttled: 0 }, 2)).toBe(5);
  });

  it("rejects a tolerance outside [0, 1)", () => {
    expect(() => new AimdController({ min: 1, max: 8, initial: 8, tolerance: 1 })).toThrow(RangeError);
    expect(() => new AimdController({ min: 1, max: 8, initial: 8, tolerance: -0.1 })).toThrow(RangeError);
  });

  it("does not grow on idle windows", () => {
    const c = new AimdController({ min: 1, max: 10, initial: 3 });
    expect(c.report({ calls: 0, throttled: 0 }, 0)).toBe(3);
  });
});

describe("keyVaultBackoffMs", () => {
  it("follows Key Vault's 1, 2, 4, 8, 16 s guidance at the top of the jitter range", () => {
    expect([0, 1, 2, 3, 4].map((a) => keyVaultBackoffMs(a, 1))).toEqual([1000, 2000, 4000, 8000, 16000]);
  });

  it("jitters into the upper half of each step", () => {
    expect(keyVaultBackoffMs(3, 0)).toBe(4000);
    expect(keyVaultBackoffMs(3, 0.5)).toBe(6000);
  });

  it("stops after maxAttempts", () => {
    expect(keyVaultBackoffMs(5, 0.5)).toBeUndefined();
    expect(keyVaultBackoffMs(2, 0.5, { maxAttempts: 2 })).toBeUndefined();
  });

  it("honours a longer Retry-After", () => {
    expect(keyVaultBackoffMs(0, 1, { retryAfterMs: 7000 })).toBe(7000);
    expect(keyVaultBackoffMs(2, 1, { retryAfterMs: 10 })).toBe(4000);
  });
});

describe("shareOfBudget", () => {
  it("splits the vault budget evenly among activities in flight", () => {
    expect(shareOfBudget(800, 4)).toBe(200);
    expect(shareOfBudget(800, 0)).toBe(800);
  });
});
