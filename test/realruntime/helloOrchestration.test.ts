// Milestone (b) of issue 16: the fixture app's "sequence" orchestrator and "hello" activity, unchanged,
// run on the real Durable extension 3.19.0 (DurableTask.AzureStorage on Azurite) through the
// harness's string-trigger stubs and the Node bridge.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { readHistoryError } from "../../lib/domain/errors";
import { fixture } from "../fixtures/durableApp/state";
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

  it("retries a failing activity with the durable timer backoff and hands the orchestrator its failure message", async () => {
    fixture.failuresLeft.set("real-r2", 5);
    const client = durableClient(rt.client);
    const id = await client.startNew("retrying", { input: "real-r2" });
    const status = await waitForEnd(client, id, 120_000);
    expect(status.runtimeStatus, rt.output().slice(-4000)).toBe("Completed");
    expect(fixture.attempts.get("real-r2")).toBe(3);
    const failed = (status.output as { failed: string }).failed;
    // The family tag the app's familyTag() reads survives the trip through the real history.
    expect(failed).toContain("[dependencyUnavailable] flaky failure for real-r2");
    // Divergence from dev/host (found here): dev/host hands "Activity function 'flaky' failed: <msg>";
    // the real extension puts the exception's details after it (" \n " + the serialized .NET
    // exception, whose inner message is the worker's "Result: Failure ... Stack: <the app's stack>").
    expect(failed).toMatch(/^Activity function 'flaky' failed: +\[dependencyUnavailable\] flaky failure for real-r2 \n \{/);
    expect(failed).toContain("Result: Failure\\nException: [dependencyUnavailable] flaky failure for real-r2\\nStack: ");
    // What the app keeps of it (ledger, events, API errors) is its own message only (fixed in
    // readHistoryError; dev/host now hands the same shape, test/integration/host/durable.test.ts).
    expect(readHistoryError(new Error(failed))).toEqual({ family: "dependencyUnavailable", message: "[dependencyUnavailable] flaky failure for real-r2" });
  }, 150_000);
});
