// HTTP and durable functions on separate instances that share only storage, as Flex Consumption
// runs them: the HTTP instance's durable client writes starts, events, terminations and entity
// signals to the store; durable instances find them by polling and run them under a lease.
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, MemoryHistoryStore, TableHistoryStore, type DevHost, type HistoryStore, type InstanceRole } from "../../../dev/host";
import type { InboxMessage } from "../../../dev/host/store";
import { idleAcross } from "../../../dev/host/instances";
import { freshTable } from "../../support/tables";
import { fixtureHost } from "./support";

let hosts: DevHost[] = [];
afterEach(async () => {
  for (const h of hosts) await h.stop();
  hosts = [];
});

async function instance(role: InstanceRole, store: HistoryStore, clock: ManualClock, extra: { leaseMs?: number } = {}): Promise<DevHost> {
  const h = await fixtureHost({ roles: [role], store, clock, minPollingIntervalMs: 1, maxPollingIntervalMs: 10, pollBatchSize: 2, ...extra });
  hosts.push(h);
  return h;
}

/** Calls the fixture's durableOps HTTP function (the app's own DurableClient) on the instance. */
async function op(h: DevHost, path: string, body: unknown): Promise<{ status: number; json(): unknown }> {
  return h.invokeHttp("POST", `/api/durable/${path}`, { body });
}

function episodeKeys(hs: DevHost[]): string[] {
  return hs.flatMap((h) => h.episodes().map((e) => `${e.instanceId}|${e.executionId}|${e.historyIndex}`));
}

describe("HTTP and durable functions on separate instances sharing only storage", () => {
  it("an orchestration started through the HTTP instance runs to completion on the durable instance, and the HTTP instance runs no episode, activity or entity batch", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const durable = await instance("durable", store, clock);
    expect((await op(http, "start/si-seq", { name: "sequence", input: ["Oslo", "Lima"] })).status).toBe(202);
    const id = await http.client.startNew("fanOut", { instanceId: "si-fan", input: 12 });
    expect((await http.client.waitForCompletion("si-seq", { timeoutMs: 10_000 })).output).toEqual(["Hello Oslo", "Hello Lima"]);
    expect((await http.client.waitForCompletion(id, { timeoutMs: 10_000 })).output).toBe(12);
    expect(http.episodes()).toEqual([]);
    expect(http.activityExecutions("hello")).toBe(0);
    expect(durable.activityExecutions("hello")).toBe(14);
    expect(durable.episodes().filter((e) => e.instanceId === "si-seq")).toHaveLength(3);
  });

  it("a start waits in the store (Pending) while no durable instance runs, and runs once one starts", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    await http.client.startNew("sequence", { instanceId: "si-wait", input: ["Kyiv"] });
    await new Promise((r) => setTimeout(r, 50));
    expect((await http.client.getStatus("si-wait"))!.runtimeStatus).toBe("Pending");
    await instance("durable", store, clock);
    expect((await http.client.waitForCompletion("si-wait", { timeoutMs: 10_000 })).output).toEqual(["Hello Kyiv"]);
  });

  it("a raised event and a termination sent through the HTTP instance reach the orchestrations on the durable instance", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const durable = await instance("durable", store, clock);
    await op(http, "start/si-approval", { name: "approval" });
    await op(http, "start/si-forever", { name: "forever" });
    await idleAcross([http, durable], store);
    expect((await http.client.getStatus("si-approval"))!.customStatus).toEqual({ waitingFor: "Approved" });
    expect((await op(http, "raise/si-approval", { event: "Approved", input: "yes" })).status).toBe(202);
    expect((await op(http, "terminate/si-forever", { reason: "no longer needed" })).status).toBe(202);
    expect((await http.client.waitForCompletion("si-approval", { timeoutMs: 10_000 })).output).toBe("yes");
    const forever = await http.client.waitForCompletion("si-forever", { timeoutMs: 10_000 });
    expect(forever).toMatchObject({ runtimeStatus: "Terminated", output: "no longer needed" });
    expect(http.episodes()).toEqual([]);
  });

  it("entity signals sent through the HTTP instance are applied on the durable instance and read back on the HTTP instance", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const durable = await instance("durable", store, clock);
    for (const n of [7, 8]) expect((await op(http, "signal", { entityKey: "si-c", op: "add", input: n })).status).toBe(202);
    await http.client.signalEntity({ name: "counter", key: "si-c" }, "add", 10);
    await idleAcross([http, durable], store);
    expect(await http.client.readEntity({ name: "counter", key: "si-c" })).toEqual({ exists: true, state: { total: 25, ops: 3 } });
    expect(http.entityBatches()).toBe(0);
    expect(durable.entityBatches()).toBeGreaterThan(0);
  });

  it("sub-orchestrations and entity calls of an orchestration started through the HTTP instance complete on the durable instance", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    await instance("durable", store, clock);
    await http.client.startNew("parent", { instanceId: "si-parent" });
    await http.client.startNew("entityUser", { instanceId: "si-user", input: "si-u" });
    expect((await http.client.waitForCompletion("si-parent", { timeoutMs: 10_000 })).output).toMatchObject({ named: "Hello named", anonymous: "Hello anonymous" });
    expect((await http.client.waitForCompletion("si-user", { timeoutMs: 10_000 })).output).toEqual({ total: 6, failed: true });
  });

  it("two durable instances on one store never run the same episode, and every orchestration completes once (memory store)", async () => {
    // Counts what goes through storage between the instances (entity answers, children's completions).
    const kinds: string[] = [];
    const store = new (class extends MemoryHistoryStore {
      override async enqueue(targetId: string, message: InboxMessage): Promise<void> {
        kinds.push(message.payload.kind);
        return super.enqueue(targetId, message);
      }
    })();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const d1 = await instance("durable", store, clock);
    const d2 = await instance("durable", store, clock);
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) {
      const name = ["sequence", "parent", "entityUser"][i % 3]!;
      ids.push(await http.client.startNew(name, { instanceId: `si-two-${i}`, input: name === "entityUser" ? `si-two-${i % 2}` : undefined }));
    }
    for (const id of ids) expect((await http.client.waitForCompletion(id, { timeoutMs: 20_000 })).runtimeStatus).toBe("Completed");
    await idleAcross([http, d1, d2], store);
    const keys = episodeKeys([d1, d2]);
    expect(new Set(keys).size).toBe(keys.length);
    // A poll takes at most two new targets (pollBatchSize): both instances got work.
    expect(d1.episodes().length).toBeGreaterThan(0);
    expect(d2.episodes().length).toBeGreaterThan(0);
    // Each entity key lives on one instance, its callers on both: some answers crossed through storage.
    expect(kinds.filter((k) => k === "history").length).toBeGreaterThan(0);
    expect(http.episodes()).toEqual([]);
    // Each entity key was used by 4 orchestrations (add 5, signal add 1), whichever instance ran them.
    for (const key of ["si-two-0", "si-two-1"]) expect((await http.client.readEntity<{ total: number }>({ name: "counter", key })).state!.total).toBe(24);
  });

  it("two durable instances on one store never run the same episode (Azurite table store)", async () => {
    const store = new TableHistoryStore(await freshTable("si"));
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const d1 = await instance("durable", store, clock);
    const d2 = await instance("durable", store, clock);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await http.client.startNew(i % 2 ? "parent" : "sequence", { instanceId: `si-tab-${i}` }));
    await op(http, "signal", { entityKey: "si-tab", op: "add", input: 3 });
    for (const id of ids) expect((await http.client.waitForCompletion(id, { timeoutMs: 30_000 })).runtimeStatus).toBe("Completed");
    await idleAcross([http, d1, d2], store);
    const keys = episodeKeys([d1, d2]);
    expect(new Set(keys).size).toBe(keys.length);
    expect(http.episodes()).toEqual([]);
    expect((await http.client.readEntity<{ total: number }>({ name: "counter", key: "si-tab" })).state!.total).toBe(3);
  });

  it("a durable instance that stops hands its leases back: the other one runs the rest of its orchestration", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const d1 = await instance("durable", store, clock);
    const d2 = await instance("durable", store, clock);
    await http.client.startNew("approval", { instanceId: "si-handover" });
    await idleAcross([http, d1, d2], store);
    const owner = d1.episodes().length > 0 ? d1 : d2;
    const other = owner === d1 ? d2 : d1;
    expect(other.episodes()).toEqual([]);
    await owner.stop();
    hosts = hosts.filter((h) => h !== owner);
    await http.client.raiseEvent("si-handover", "Approved", "after the handover");
    expect((await http.client.waitForCompletion("si-handover", { timeoutMs: 10_000 })).output).toBe("after the handover");
    expect(other.episodes().map((e) => e.instanceId)).toEqual(["si-handover"]);
  });

  it("a lease held by a crashed durable instance keeps the other one out until it expires", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const d1 = await instance("durable", store, clock, { leaseMs: 300 });
    await http.client.startNew("approval", { instanceId: "si-expiry" });
    await idleAcross([http, d1], store);
    await d1.crash();
    const d2 = await instance("durable", store, clock, { leaseMs: 300 });
    await http.client.raiseEvent("si-expiry", "Approved", "late");
    await new Promise((r) => setTimeout(r, 100));
    expect(d2.episodes()).toEqual([]);
    expect((await http.client.waitForCompletion("si-expiry", { timeoutMs: 10_000 })).output).toBe("late");
    expect(d2.episodes().map((e) => e.instanceId)).toEqual(["si-expiry"]);
  });

  it("an orchestration whose durable instance died is taken over by another once its lease expires, timers and all", async () => {
    const store = new MemoryHistoryStore();
    const clock = new ManualClock();
    const http = await instance("http", store, clock);
    const d1 = await instance("durable", store, clock, { leaseMs: 300 });
    await http.client.startNew("sleeper", { instanceId: "si-orphan", input: 2 });
    await idleAcross([http, d1], store);
    // d1 dies with the durable timer in its memory; nothing waits in the store for the instance.
    await d1.crash();
    const d2 = await instance("durable", store, clock, { leaseMs: 300 });
    // d2 takes the instance over once d1's lease expires (its lease check runs every leaseMs / 3)
    // and arms the timer again: the clock moved past it, the instance completes on d2.
    let status = "Running";
    for (let i = 0; i < 200 && status !== "Completed"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      clock.advance(3600_000);
      await idleAcross([http, d2], store);
      status = (await http.client.getStatus("si-orphan"))!.runtimeStatus;
    }
    expect((await http.client.waitForCompletion("si-orphan", { timeoutMs: 10_000 })).runtimeStatus).toBe("Completed");
    expect(d2.episodes().map((e) => e.instanceId)).toEqual(["si-orphan"]);
  });
});
