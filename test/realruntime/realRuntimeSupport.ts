// Shared by the tests that run the app on the real Durable extension (dev/durable-runtime, issue 16):
// they run wherever dotnet and the built harness exist, and skip with a printed notice elsewhere.
import { describe, it } from "vitest";
import { realRuntimeUnavailable } from "../../dev/durable-runtime/node/harness";

const unavailable = realRuntimeUnavailable();

/** describe() when the real runtime can run here; otherwise one visibly skipped test and a notice. */
export function describeRealRuntime(title: string, body: () => void): void {
  describe(`${title} (real Durable extension)`, () => {
    if (unavailable) {
      // Printed to stderr directly so the notice shows through the reporter's silencing of logs.
      process.stderr.write(`[keyrotor] [durable-runtime] ${unavailable}: "${title}" on the real Durable extension is SKIPPED\n`);
      it.skip(`SKIPPED, real Durable runtime unavailable: ${unavailable}`, () => {});
      return;
    }
    body();
  });
}

export { durableClient, waitForEnd } from "../../dev/durable-runtime/node/client";

/** Prints how long a scenario took on the real runtime (stderr, so it shows through the reporter):
 * CI time is budgeted per scenario. */
export function reportSeconds(scenario: string, startedAt: number): number {
  const seconds = Math.round((Date.now() - startedAt) / 100) / 10;
  process.stderr.write(`[keyrotor] [durable-runtime] ${scenario}: ${seconds} s on the real Durable extension\n`);
  return seconds;
}
