// The local host speaks to the durable library the way the real Durable extension does: an
// orchestrator gets upperSchemaVersion V2 and upperSchemaVersionNew V3 (1 and 2;
// OrchestrationTriggerAttributeBindingProvider), never V4 (3); an entity batch holds
// {name, input, isSignal} with no request id (EntityTriggerAttributeBindingProvider).
import "../../../dev/host";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, startHost, type DevHost } from "../../../dev/host";
import { payloads } from "./shapesApp";

let host: DevHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
  payloads.length = 0;
});

const start = () => startHost({ entry: [path.resolve(__dirname, "shapesApp.ts")], clock: new ManualClock("2026-01-01T00:00:00Z") });

describe("payloads in the real extension's shapes", () => {
  it("replays orchestrators with the schema versions the extension sends", async () => {
    host = await start();
    const id = await host.client.startNew("shapesOrchestrator");
    expect((await host.client.waitForCompletion(id, { timeoutMs: 10_000 })).output).toBe(2);
    const orchestrations = payloads.filter((p) => p.functionName === "shapesOrchestrator").map((p) => p.input as Record<string, unknown>);
    expect(orchestrations.length).toBeGreaterThan(1);
    for (const o of orchestrations) expect(o).toMatchObject({ upperSchemaVersion: 1, upperSchemaVersionNew: 2 });
  });

  it("hands entities batches of {name, input, isSignal}, and delivers every signal an entity sends", async () => {
    host = await start();
    const self = { name: "shapescounter", key: "relay" };
    await host.client.signalEntity(self, "forward");
    await host.idle();
    await host.client.signalEntity(self, "forward");
    await host.idle();
    const batches = payloads.filter((p) => p.functionName === "shapesCounter").flatMap((p) => (p.input as { batch: Record<string, unknown>[] }).batch);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    for (const op of batches) {
      expect(Object.keys(op).sort()).toEqual(Object.keys(op).includes("input") ? ["input", "isSignal", "name"] : ["isSignal", "name"]);
    }
    expect(batches.find((op) => op.name === "forward")).toEqual({ name: "forward", isSignal: true });
    expect((await host.client.readEntity({ name: "shapescounter", key: "forwarded" })).state).toBe(2);
  });

  it("hands a new entity's first batch state: null (present, not left out), as the real extension does (dev/durable-runtime/README.md, difference 2)", async () => {
    host = await start();
    await host.client.signalEntity({ name: "shapescounter", key: "fresh" }, "forward");
    await host.idle();
    const first = payloads.find((p) => p.functionName === "shapesCounter" && (p.input as { self: { key: string } }).self.key === "fresh")!.input as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(["self", "exists", "state", "batch"]);
    expect({ exists: first.exists, state: first.state }).toEqual({ exists: false, state: null });
  });
});
