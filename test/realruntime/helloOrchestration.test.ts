// Milestone (b) of issue 16: the fixture app's "sequence" orchestrator and "hello" activity, unchanged,
// run on the real Durable extension 3.19.0 (DurableTask.AzureStorage on Azurite) through the
// harness's string-trigger stubs and the Node bridge.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { describeRealRuntime, durableClient, waitForEnd } from "./realRuntimeSupport";

describeRealRuntime("a hello orchestration", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: [path.resolve(__dirname, "../fixtures/durableApp/orchestrations.ts")], taskHub: "hellohub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  it("hands the JavaScript client JSON with the local RPC endpoint", () => {
    expect(rt.client.taskHubName).toBe("hellohub");
    expect(rt.client.rpcBaseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/durabletask\/$/);
  });

  it("runs the orchestrator and its activity calls to completion with the activities' results", async () => {
    const client = durableClient(rt.client);
    const id = await client.startNew("sequence", { input: ["Tokyo", "Seattle"] });
    const status = await waitForEnd(client, id, 120_000);
    expect(status.runtimeStatus, rt.output().slice(-4000)).toBe("Completed");
    expect(status.output).toEqual(["Hello Tokyo", "Hello Seattle"]);
    // Each activity ran once, with its input as JSON; the orchestrator replayed one episode per step.
    const mine = rt.bridge.calls.filter((c) => c.payload.includes(id) || c.kind === "activity");
    expect(mine.filter((c) => c.kind === "activity").map((c) => c.payload)).toEqual(['"Tokyo"', '"Seattle"']);
    expect(mine.filter((c) => c.kind === "orchestration")).toHaveLength(3);
  }, 150_000);
});
