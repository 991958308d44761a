import { describe, expect, it } from "vitest";
import { forEachOnLanes, type Lanes } from "../../../lib/orchestration/rewrap/range";

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("forEachOnLanes", () => {
  it("hands every item to exactly one lane while lanes keep opening", async () => {
    for (const size of [1, 2, 7, 100, 257]) {
      const lanes: Lanes = { open: 1, max: 16, starved: () => true };
      const seen: number[] = [];
      await forEachOnLanes(Array.from({ length: size }, (_, i) => i), lanes, async (i) => {
        expect(i).toBeTypeOf("number");
        await tick();
        seen.push(i);
      });
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: size }, (_, i) => i));
      expect(lanes.open).toBeLessThanOrEqual(Math.min(16, size));
    }
  });

  it("opens no lane while tokens are not going unspent, and never more than the maximum", async () => {
    const idle: Lanes = { open: 2, max: 8, starved: () => false };
    await forEachOnLanes([1, 2, 3, 4, 5], idle, async () => tick());
    expect(idle.open).toBe(2);
    const busy: Lanes = { open: 1, max: 3, starved: () => true };
    let inFlight = 0;
    let peak = 0;
    await forEachOnLanes(Array.from({ length: 50 }, (_, i) => i), busy, async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick();
      inFlight--;
    });
    expect(busy.open).toBe(3);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it("rejects with a lane's failure", async () => {
    const lanes: Lanes = { open: 2, max: 4, starved: () => true };
    await expect(forEachOnLanes([1, 2, 3], lanes, async (i) => {
      await tick();
      if (i === 2) throw new Error("lane failed");
    })).rejects.toThrow("lane failed");
  });
});
