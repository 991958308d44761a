// The clock port's contract (lib/ports.ts Clock): a valid instant, never earlier than the one read
// before, and a Date the caller may change without moving the clock.
import { describe, expect, it } from "vitest";
import type { Clock } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface ClockFixture {
  clock: Clock;
  /** Lets time pass (a real clock waits, a manual one is advanced). */
  pass: (ms: number) => Promise<void>;
}

export function clockContract(kind: AdapterKind, adapter: string, fixture: () => Promise<ClockFixture>): void {
  describe(contractTitle("clock", kind, adapter), () => {
    it("reads a valid instant that never goes back, and moves forward as time passes", async () => {
      const { clock, pass } = await fixture();
      const first = clock.now();
      expect(Number.isNaN(first.getTime())).toBe(false);
      expect(clock.now().getTime()).toBeGreaterThanOrEqual(first.getTime());
      await pass(20);
      expect(clock.now().getTime()).toBeGreaterThanOrEqual(first.getTime() + 20);
    });

    it("hands out a fresh Date each time: changing one does not move the clock", async () => {
      const { clock } = await fixture();
      const read = clock.now();
      const at = read.getTime();
      read.setFullYear(1999);
      expect(clock.now().getTime()).toBeGreaterThanOrEqual(at);
    });
  });
}
