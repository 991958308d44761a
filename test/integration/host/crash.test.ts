// Crash and resume: the host drops all in-memory work and resumes from the persisted history, on
// the memory store and on Azure Table Storage (Azurite). Activities are at-least-once; entity
// operations and the orchestration result are not duplicated.
import { afterEach, describe, expect, it } from "vitest";
import { TableHistoryStore, type HistoryStore } from "../../../dev/host";
import { fixture, gate } from "../../fixtures/durableApp/state";
import { freshTable } from "../../support/tables";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

async function crashWhileActivityInFlight(store: "memory" | HistoryStore, run: string): Promise<void> {
  host = await fixtureHost({ store });
  const id = await host.client.startNew("steps", { instanceId: run, input: { run, gateAt: 2 } });
  await gate(`${run}/gate`).entered;
  await host.crash();
  await host.resume({ visibilityTimeoutMs: 0 });
  // The re-run of step 2 reaches the (still closed) gate before it opens.
  while ((fixture.stepRuns.get(`${run}/2`) ?? 0) < 2) await new Promise((r) => setTimeout(r, 5));
  expect((await host.client.getStatus(id))!.runtimeStatus).toBe("Running");
  gate(`${run}/gate`).open();
  const s = await host.client.waitForCompletion(id, { timeoutMs: 20_000 });
  expect(s.output).toEqual({ sum: 100, total: 100 });
  expect(fixture.stepRuns.get(`${run}/1`)).toBe(1);
  expect(fixture.stepRuns.get(`${run}/2`)).toBe(2); // the abandoned execution and the re-run
  expect(fixture.stepRuns.get(`${run}/3`)).toBe(1);
  expect(fixture.stepRuns.get(`${run}/4`)).toBe(1);
}

describe("crash and resume", () => {
  it("re-runs an activity that was in flight at the crash and ends as without a crash (memory store)", async () => {
    await crashWhileActivityInFlight("memory", "cm1");
  });

  it("re-runs an activity that was in flight at the crash and ends as without a crash (Azurite table store)", async () => {
    await crashWhileActivityInFlight(new TableHistoryStore(await freshTable("dh")), "ct1");
  });

  it("reaches the same end state whatever moment the crash hits (entity operations applied once)", async () => {
    host = await fixtureHost();
    for (let point = 0; point < 16; point++) {
      const run = `cp${point}`;
      const id = await host.client.startNew("steps", { instanceId: run, input: { run } });
      await turns(point);
      await host.crash();
      await host.resume({ visibilityTimeoutMs: 0 });
      const s = await host.client.waitForCompletion(id, { timeoutMs: 20_000 });
      expect(s.output, `crash after ${point} turns`).toEqual({ sum: 100, total: 100 });
      expect((await host.client.readEntity<{ total: number }>({ name: "counter", key: run })).state!.total).toBe(100);
    }
  });

  it("resumes timers, external events and child orchestrations after a crash", async () => {
    host = await fixtureHost({ store: new TableHistoryStore(await freshTable("dh")) });
    const sleeper = await host.client.startNew("sleeper", { input: 2 });
    const approval = await host.client.startNew("approval");
    const parent = await host.client.startNew("parent", { instanceId: "cr-parent" });
    await host.idle();
    await host.client.raiseEvent(approval, "Approved", "yes");
    await host.crash();
    await host.resume({ visibilityTimeoutMs: 0 });
    host.manual.advance(2 * 3600_000);
    expect((await host.client.waitForCompletion(sleeper)).runtimeStatus).toBe("Completed");
    expect((await host.client.waitForCompletion(approval)).output).toBe("yes");
    expect((await host.client.waitForCompletion(parent)).output).toMatchObject({ named: "Hello named" });
  });

  it("pages a long history back from the table store after a crash", async () => {
    host = await fixtureHost({ store: new TableHistoryStore(await freshTable("dh")) });
    const id = await host.client.startNew("fanOut", { input: 600 });
    await host.client.waitForCompletion(id, { timeoutMs: 30_000 });
    await host.crash();
    await host.resume({ visibilityTimeoutMs: 0 });
    const s = await host.client.getStatus(id, { showHistory: true });
    expect(s!.output).toBe(600);
    expect(s!.historyEvents!.length).toBeGreaterThan(1200);
  });
});
