// The hierarchy's Pacer spaces remote calls evenly: after a pause (a loaded host, a slow page) it
// does not release a burst, which a vault with a short window answers with 429s (calls spent for
// nothing, counted against the run's B + 10 unwrap budget).
import { describe, expect, it } from "vitest";
import { Pacer } from "../../../lib/hierarchy/pace";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("hierarchy Pacer", () => {
  it("after an idle pause, releases the next calls one interval apart, not as a burst", async () => {
    const pacer = new Pacer(20); // one call per 50 ms
    await pacer.run(() => Promise.resolve());
    await sleep(400); // long enough to refill any burst allowance
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 3 }, () => pacer.run(async () => {
      starts.push(performance.now());
    })));
    starts.sort((a, b) => a - b);
    // A loaded host only widens the gaps; a burst would put two calls within a few ms.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(40);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(40);
    expect(pacer.calls).toBe(4);
  });

  it("unpaced (rate 0) runs calls at once", async () => {
    const pacer = new Pacer(0);
    const started = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => pacer.run(() => Promise.resolve())));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(pacer.calls).toBe(5);
  });
});
