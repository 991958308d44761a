// After a crash the real runtime hands a killed host's work out again only when the queue message's
// visibility timeout ends (DurableTask.AzureStorage; host.json extensions.durableTask.storageProvider
// controlQueueVisibilityTimeout / workItemQueueVisibilityTimeout, default 5 minutes, the control one
// 1 to 60 minutes). dev/host's resume() after crash() holds the work taken before the crash as long.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { visibilityTimeoutFromHostJson } from "../../../dev/host/visibility";
import { fixture, gate } from "../../fixtures/durableApp/state";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const MIN = 60_000;

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`[test] ${what} did not happen`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("crash recovery waits for the queues' visibility timeout", () => {
  it("resume() after a crash re-runs the activity in flight only once 5 minutes (this app's host.json sets none: Azure's default) have passed; new work runs at once", async () => {
    host = await fixtureHost();
    const run = "vis-1";
    const id = await host.client.startNew("steps", { instanceId: run, input: { run, gateAt: 2 } });
    await gate(`${run}/gate`).entered;
    await host.crash();
    await host.resume();
    await host.idle();
    expect(fixture.stepRuns.get(`${run}/2`)).toBe(1);
    // Work that arrives after the restart is not held.
    const other = await host.client.startNew("sequence", { instanceId: "vis-other", input: ["Oslo"] });
    expect((await host.client.waitForCompletion(other, { timeoutMs: 10_000 })).output).toEqual(["Hello Oslo"]);
    host.manual.advance(5 * MIN - 1_000);
    await host.idle();
    expect({ step2: fixture.stepRuns.get(`${run}/2`), status: (await host.client.getStatus(id))?.runtimeStatus }).toEqual({ step2: 1, status: "Running" });
    host.manual.advance(1_000);
    await eventually(() => fixture.stepRuns.get(`${run}/2`) === 2, "the re-run of step 2");
    gate(`${run}/gate`).open();
    expect((await host.client.waitForCompletion(id, { timeoutMs: 10_000 })).output).toEqual({ sum: 100, total: 100 });
  });

  it("the host's visibilityTimeoutMs sets the hold, and resume({ visibilityTimeoutMs: 0 }) resumes at once", async () => {
    host = await fixtureHost({ visibilityTimeoutMs: MIN });
    const run = "vis-2";
    await host.client.startNew("steps", { instanceId: run, input: { run, gateAt: 1 } });
    await gate(`${run}/gate`).entered;
    await host.crash();
    await host.resume();
    host.manual.advance(MIN - 1);
    await host.idle();
    expect(fixture.stepRuns.get(`${run}/1`)).toBe(1);
    host.manual.advance(1);
    await eventually(() => fixture.stepRuns.get(`${run}/1`) === 2, "the re-run after 1 minute");

    const run3 = "vis-3";
    await host.client.startNew("steps", { instanceId: run3, input: { run: run3, gateAt: 1 } });
    await gate(`${run3}/gate`).entered;
    await host.crash();
    await host.resume({ visibilityTimeoutMs: 0 });
    await eventually(() => fixture.stepRuns.get(`${run3}/1`) === 2, "the immediate re-run");
    gate(`${run}/gate`).open();
    gate(`${run3}/gate`).open();
  });

  it("reads host.json's control and work-item queue visibility timeouts (the longer one), 5 minutes without them, and refuses a control timeout outside 1 to 60 minutes as the extension does", () => {
    const dir = (json: unknown): string => {
      const d = mkdtempSync(path.join(tmpdir(), "vis-"));
      writeFileSync(path.join(d, "host.json"), JSON.stringify(json));
      return d;
    };
    const provider = (p: Record<string, string>) => dir({ version: "2.0", extensions: { durableTask: { storageProvider: p } } });
    expect(visibilityTimeoutFromHostJson(dir({ version: "2.0" }))).toBe(5 * MIN);
    expect(visibilityTimeoutFromHostJson(provider({ controlQueueVisibilityTimeout: "00:02:00", workItemQueueVisibilityTimeout: "00:03:00" }))).toBe(3 * MIN);
    expect(visibilityTimeoutFromHostJson(provider({ controlQueueVisibilityTimeout: "00:01:00", workItemQueueVisibilityTimeout: "00:00:30" }))).toBe(MIN);
    expect(() => visibilityTimeoutFromHostJson(provider({ controlQueueVisibilityTimeout: "00:00:30" }))).toThrow(/controlQueueVisibilityTimeout must be between 1 and 60 minutes/);
    expect(() => visibilityTimeoutFromHostJson(provider({ controlQueueVisibilityTimeout: "01:00:01" }))).toThrow(/between 1 and 60 minutes/);
    expect(() => visibilityTimeoutFromHostJson(provider({ workItemQueueVisibilityTimeout: "soon" }))).toThrow(/is not a time span/);
  });
});
