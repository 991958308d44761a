// The clock contract against the manual clock tests use and the system clock production uses.
import { setTimeout as sleep } from "node:timers/promises";
import { manualClock, systemClock } from "../../lib/ports";
import { clockContract } from "./clockContract";

clockContract("memory", "manualClock", async () => {
  const clock = manualClock("2026-01-01T00:00:00Z");
  return { clock, pass: async (ms) => clock.advance(ms) };
});

clockContract("real", "systemClock", async () => ({ clock: systemClock, pass: async (ms) => void (await sleep(ms + 5)) }));
