import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { shouldPublishProgress, type ProgressPoint } from "../../../lib/events/progress";

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();

describe("shouldPublishProgress", () => {
  it("publishes the first point and the final one", () => {
    expect(shouldPublishProgress(undefined, { at: at(0), rewrapped: 1, total: 1000 })).toBe(true);
    expect(shouldPublishProgress({ at: at(0), rewrapped: 990, total: 1000 }, { at: at(1), rewrapped: 1000, total: 1000 })).toBe(true);
  });

  it("holds back small, frequent steps and lets through a minute's worth or a 25-point jump", () => {
    const last = { at: at(0), rewrapped: 100, total: 1000 };
    expect(shouldPublishProgress(last, { at: at(10), rewrapped: 200, total: 1000 })).toBe(false);
    expect(shouldPublishProgress(last, { at: at(60), rewrapped: 200, total: 1000 })).toBe(true);
    expect(shouldPublishProgress(last, { at: at(10), rewrapped: 350, total: 1000 })).toBe(true);
  });

  it("never publishes without progress", () => {
    expect(shouldPublishProgress({ at: at(0), rewrapped: 100, total: 1000 }, { at: at(600), rewrapped: 100, total: 1000 })).toBe(false);
  });

  it("bounds the number of events of any run by time and progress", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 300 }), (steps) => {
        const total = steps.reduce((n, [, d]) => n + d, 0) + 1;
        let t = 0;
        let done = 0;
        let last: ProgressPoint | undefined;
        let published = 0;
        for (const [dt, d] of steps) {
          t += dt;
          done += d;
          const p = { at: at(t), rewrapped: done, total };
          if (shouldPublishProgress(last, p)) {
            published++;
            last = p;
          }
        }
        // first + one per minute + one per 25 points + final
        expect(published).toBeLessThanOrEqual(1 + Math.floor(t / 60) + 4 + 1);
      }),
    );
  });
});
