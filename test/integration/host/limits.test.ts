// Concurrency: activities run in parallel up to the configured limit; concurrent starts of one
// instance id admit exactly one (the app relies on it to refuse duplicate rotations).
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

describe("activity concurrency", () => {
  it("runs at most maxConcurrentActivities activities at once", async () => {
    host = await fixtureHost({ maxConcurrentActivities: 3 });
    fixture.running = 0;
    fixture.maxRunning = 0;
    const id = await host.client.startNew("fanOutBusy", { input: { n: 12, gate: "busy1" } });
    await gate("busy1").entered;
    while (fixture.running < 3) await new Promise((r) => setTimeout(r, 2));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(fixture.running).toBe(3);
    gate("busy1").open();
    expect((await host.client.waitForCompletion(id)).output).toBe(12);
    expect(fixture.maxRunning).toBe(3);
  });
});

describe("simultaneous starts of one instance id", () => {
  const race = async (store: "memory" | HistoryStore, id: string): Promise<void> => {
    host = await fixtureHost({ store });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => host!.client.startNew("forever", { instanceId: id })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === "rejected")) expect(String(r.reason)).toMatch(/already exists/);
    await host.idle();
    const history = (await host.client.getStatus(id, { showHistory: true }))!.historyEvents!;
    expect(history.filter((e) => e.EventType === 0)).toHaveLength(1);
  };

  it("admits exactly one of 20 concurrent starts (memory store)", async () => {
    await race("memory", "race-m");
  });

  it("admits exactly one of 20 concurrent starts (Azurite table store)", async () => {
    await race(new TableHistoryStore(await freshTable("dh")), "race-t");
  });
});
