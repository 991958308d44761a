// The dev host drives durable-functions' real replay engine: each durable capability, proven on the
// fixture app with a manual clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, gate } from "../../fixtures/durableApp/state";
import { fixtureHost } from "./support";
import { readHistoryError } from "../../../lib/domain/errors";
import recorded from "../../fixtures/realRuntime/activityFailureMessage.json";

let host: Awaited<ReturnType<typeof fixtureHost>>;
beforeAll(async () => {
  host = await fixtureHost();
});
afterAll(async () => {
  await host.stop();
});

const done = (id: string) => host.client.waitForCompletion(id, { timeoutMs: 15_000 });

describe("activities", () => {
  it("fans out activities concurrently and completes with all results", async () => {
    const id = await host.client.startNew("fanOut", { input: 40 });
    const s = await done(id);
    expect(s.output).toBe(40);
    // 40 scheduled + 40 completed + episode markers: the history is what DurableTask would record.
    expect(host.historyEventCount(id)).toBeGreaterThanOrEqual(80);
  });

  it("retries a failing activity on durable timers with backoff, then succeeds", async () => {
    fixture.failuresLeft.set("r1", 2);
    const id = await host.client.startNew("retrying", { input: "r1" });
    await host.idle();
    expect(fixture.attempts.get("r1")).toBe(1);
    host.manual.advance(1000); // first retry after 1 s
    await host.idle();
    expect(fixture.attempts.get("r1")).toBe(2);
    host.manual.advance(1999); // second retry after 2 s (coefficient 2): not yet
    await host.idle();
    expect(fixture.attempts.get("r1")).toBe(2);
    host.manual.advance(1);
    const s = await done(id);
    expect(s.output).toEqual({ key: "r1", attempts: 3 });
  });

  it("gives up after maxNumberOfAttempts and hands the orchestrator the activity's failure in the real extension's shape", async () => {
    fixture.failuresLeft.set("r2", 10);
    const id = await host.client.startNew("retrying", { input: "r2" });
    for (let i = 0; i < 3; i++) {
      await host.idle();
      host.manual.advance(10_000);
    }
    const s = await done(id);
    expect(fixture.attempts.get("r2")).toBe(3);
    const failed = (s.output as { failed: string }).failed;
    // The real Durable extension's shape (issue 16, difference 3; recorded in
    // test/fixtures/realRuntime/activityFailureMessage.json, asserted on it in
    // test/realruntime/helloOrchestration.test.ts): two spaces, then the serialized .NET exception
    // whose inner one is the worker's "Result: Failure ... Stack: <the app's stack>".
    expect(failed).toMatch(/^Activity function 'flaky' failed: {2}\[dependencyUnavailable\] flaky failure for r2 \n \{/);
    expect(failed).toContain("Result: Failure\\nException: [dependencyUnavailable] flaky failure for r2\\nStack: Error: [dependencyUnavailable] flaky failure for r2");
    const details = (m: string): { [k: string]: unknown; InnerException: Record<string, unknown> } => JSON.parse(m.slice(m.indexOf(" \n ") + 3)) as never;
    const real = details(recorded.message);
    const here = details(failed);
    expect(Object.keys(here)).toEqual(Object.keys(real));
    expect(Object.keys(here.InnerException)).toEqual(Object.keys(real.InnerException));
    expect({ type: here.$type, message: here.Message }).toEqual({ type: real.$type, message: " [dependencyUnavailable] flaky failure for r2" });
    expect(readHistoryError(new Error(failed))).toEqual({ family: "dependencyUnavailable", message: "[dependencyUnavailable] flaky failure for r2" });
  });
});

describe("timers", () => {
  it("fires a durable timer only when the manual clock reaches it", async () => {
    const id = await host.client.startNew("sleeper", { input: 1 });
    await host.idle();
    expect((await host.client.getStatus(id))!.runtimeStatus).toBe("Running");
    host.manual.advance(3600_000 - 1);
    await host.idle();
    expect((await host.client.getStatus(id))!.runtimeStatus).toBe("Running");
    host.manual.advance(1);
    const s = await done(id);
    const out = s.output as { started: string; woke: string };
    expect(new Date(out.woke).getTime() - new Date(out.started).getTime()).toBeGreaterThanOrEqual(3600_000);
  });

  it("splits a timer longer than six days into pieces and wakes at the requested time", async () => {
    const id = await host.client.startNew("sleeper", { input: 24 * 10 });
    for (let day = 0; day < 10; day++) {
      await host.idle();
      host.manual.advance(24 * 3600_000);
    }
    const s = await done(id);
    const out = s.output as { started: string; woke: string };
    expect(new Date(out.woke).getTime() - new Date(out.started).getTime()).toBeGreaterThanOrEqual(240 * 3600_000);
    const history = (await host.client.getStatus(id, { showHistory: true }))!.historyEvents!;
    expect(history.filter((e) => e.EventType === 10).length).toBeGreaterThan(1);
  });
});

describe("sub-orchestrations and continueAsNew", () => {
  it("runs named and generated-id children and reports a failed child to the parent", async () => {
    const id = await host.client.startNew("parent", { instanceId: "p1" });
    const s = await done(id);
    expect(s.output).toMatchObject({ named: "Hello named", anonymous: "Hello anonymous" });
    expect((s.output as { failure: string }).failure).toMatch(/child exploded/);
    expect((await host.client.getStatus("p1-kid"))!.runtimeStatus).toBe("Completed");
    expect((await host.client.getStatus("p1:0000000000000001"))!.runtimeStatus).toBe("Completed");
  });

  it("continues as new with the carried input and keeps each execution's history bounded", async () => {
    const id = await host.client.startNew("countdown", { input: 30 });
    const s = await done(id);
    expect(s.output).toBe("liftoff");
    expect(s.input).toBe(0);
    expect(host.maxHistoryEventCount(id)).toBeLessThan(15);
  });
});

describe("entities", () => {
  it("processes calls and signals from an orchestration and keeps state", async () => {
    const id = await host.client.startNew("entityUser", { input: "e1" });
    const s = await done(id);
    expect(s.output).toEqual({ total: 6, failed: true });
    await host.idle();
    expect(await host.client.readEntity({ name: "counter", key: "e1" })).toEqual({ exists: true, state: { total: 6, ops: 3 } });
  });

  it("applies client signals in order, including entity-to-entity signals", async () => {
    for (let i = 1; i <= 5; i++) await host.client.signalEntity({ name: "counter", key: "e2" }, "add", i);
    await host.client.signalEntity({ name: "counter", key: "e2" }, "forward", "e3");
    await host.idle();
    expect((await host.client.readEntity<{ total: number }>({ name: "counter", key: "e2" })).state!.total).toBe(15);
    expect((await host.client.readEntity<{ total: number }>({ name: "counter", key: "e3" })).state!.total).toBe(15);
    expect(await host.client.readEntity({ name: "counter", key: "nobody" })).toEqual({ exists: false, state: undefined });
  });
});

describe("external events, custom status, terminate, purge", () => {
  it("waits for an external event and exposes custom status meanwhile", async () => {
    const id = await host.client.startNew("approval");
    await host.idle();
    const waiting = await host.client.getStatus(id);
    expect(waiting!.customStatus).toEqual({ waitingFor: "Approved" });
    await host.client.raiseEvent(id, "Approved", { by: "bob" });
    const s = await done(id);
    expect(s.output).toEqual({ by: "bob" });
    expect(s.customStatus).toEqual({ waitingFor: null });
  });

  it("terminates a running instance with the reason as output and refuses purging before that", async () => {
    const id = await host.client.startNew("forever", { instanceId: "t1" });
    await host.idle();
    await expect(host.client.purge(id)).rejects.toThrow(/terminal state/);
    await host.client.terminate(id, "operator said so");
    const s = await done(id);
    expect(s.runtimeStatus).toBe("Terminated");
    expect(s.output).toBe("operator said so");
    expect(await host.client.purge(id)).toBe(1);
    expect(await host.client.getStatus(id)).toBeUndefined();
  });

  it("refuses startNew for an instance id that is still running, and allows it once finished", async () => {
    await host.client.startNew("forever", { instanceId: "dup" });
    await expect(host.client.startNew("forever", { instanceId: "dup" })).rejects.toThrow(/already exists/);
    await host.client.terminate("dup", "done");
    await done("dup");
    await host.client.startNew("sequence", { instanceId: "dup", input: ["again"] });
    expect((await done("dup")).output).toEqual(["Hello again"]);
  });
});

describe("determinism", () => {
  it("fails an orchestrator whose actions change order on replay with NonDeterministicOrchestration", async () => {
    fixture.flip = false;
    const id = await host.client.startNew("shifty", { input: "nd1" });
    await gate("nd1").entered;
    fixture.flip = true;
    try {
      gate("nd1").open();
      const s = await done(id);
      expect(s.runtimeStatus).toBe("Failed");
      expect(String(s.output)).toMatch(/NonDeterministicOrchestrationException: Non-Deterministic workflow detected/);
      expect(String(s.output)).toMatch(/sequence ID 0 and name 'gate'/);
    } finally {
      fixture.flip = false;
    }
  });

  it("replays an unchanged orchestrator without complaint", async () => {
    const id = await host.client.startNew("shifty", { input: "nd2" });
    await gate("nd2").entered;
    gate("nd2").open();
    expect((await done(id)).output).toBe("done");
  });
});
