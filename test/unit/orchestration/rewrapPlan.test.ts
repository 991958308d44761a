// The rewrap orchestrator's pure decisions: waves, budget shares, leg sizing, progress.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { currentRate, legSize, planWave, progressOf, sharePerRange, zeroTotals, type Cursor } from "../../../lib/orchestration/rewrap";

const cursors = (n: number): Cursor[] => Array.from({ length: n }, (_, i) => ({ tenant: `t${i}` }));

describe("rewrap waves", () => {
  it("never hands one tenant to two range activities and loses no tenant", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 20 }), (n, slots, per) => {
      const queue = cursors(n);
      const w = planWave(queue, slots, per);
      const taken = w.ranges.flat().map((c) => c.tenant);
      expect(new Set(taken).size).toBe(taken.length);
      expect([...taken, ...w.rest.map((c) => c.tenant)].sort()).toEqual(queue.map((c) => c.tenant).sort());
      expect(w.ranges.length).toBeLessThanOrEqual(slots);
      for (const r of w.ranges) expect(r.length).toBeLessThanOrEqual(per);
    }));
  });

  it("the shares of a wave add up to the open part of the budget, never more", () => {
    fc.assert(fc.property(fc.double({ min: 1, max: 10_000, noNaN: true }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (budget, maxSlots, level, ranges) => {
      const rate = currentRate(budget, level, maxSlots);
      expect(rate).toBeLessThanOrEqual(budget * (1 + 1e-9));
      expect(sharePerRange(rate, ranges) * ranges).toBeCloseTo(rate, 6);
    }));
  });

  it("an unknown vault limit means unpaced (share 0)", () => {
    expect(sharePerRange(currentRate(0, 4, 16), 4)).toBe(0);
  });
});

describe("rewrap legs and progress", () => {
  it("sizes legs so a pass has about targetLegs of them whatever the number of DEKs", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 50_000_000 }), fc.integer({ min: 1, max: 100 }), (total, legs) => {
      const size = legSize(total, legs);
      expect(size).toBeGreaterThanOrEqual(1);
      expect(Math.ceil(total / size)).toBeLessThanOrEqual(legs);
    }));
  });

  it("reports rate and an ETA once DEKs move, and none before", () => {
    const t0 = Date.parse("2026-03-01T00:00:00Z");
    expect(progressOf(zeroTotals(), 1000, t0, t0)).toEqual({ rewrapped: 0, total: 1000, perSec: 0, throttled: 0, scanned: 0 });
    const p = progressOf({ ...zeroTotals(), rewrapped: 500, scanned: 500, throttled: 3 }, 1000, t0, t0 + 10_000);
    expect(p).toEqual({ rewrapped: 500, total: 1000, perSec: 50, throttled: 3, scanned: 500, eta: "2026-03-01T00:00:20.000Z" });
  });
});
