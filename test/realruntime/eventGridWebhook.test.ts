// The Event Grid webhook on the real Event Grid extension 3.3.0 (issue 16): the harness serves the
// Functions host's /runtime/webhooks/eventgrid route through the extension's own converter, in front
// of the fixture app's keyEvents function (an Event Grid trigger with a durable client, run in Node
// through the bridge). The same cases run against dev/host in test/e2e/eventGridWebhook.test.ts.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { fixture } from "../fixtures/durableApp/state";
import { eventGridWebhookContract } from "../support/eventGridWebhookContract";
import { describeRealRuntime, durableClient, waitForEnd } from "./realRuntimeSupport";

describeRealRuntime("the Event Grid webhook", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../fixtures/durableApp", f)), taskHub: "gridhub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  // The harness runs the extension without a Functions host, so no system key is checked here; the
  // contract sends one anyway (dev/host checks it: test/integration/host/eventGridSystemKey.test.ts).
  eventGridWebhookContract(() => webhookOrigin(rt.client), () => "no-functions-host-no-key");

  it("hands the function each event as the extension's JSON text and the real durable client, whose start runs on the extension", async () => {
    const r = await fetch(`${webhookOrigin(rt.client)}/runtime/webhooks/eventgrid?functionName=keyEvents`, {
      method: "POST", headers: { "aeg-event-type": "Notification", "content-type": "application/json" },
      body: JSON.stringify([{ id: "started-1", eventType: "Microsoft.KeyVault.KeyNearExpiry", subject: "kek1", data: {}, eventTime: "2026-03-01T00:00:00Z", dataVersion: "1" }]),
    });
    expect(r.status).toBe(202);
    const call = rt.bridge.calls.find((c) => c.kind === "eventGrid" && c.payload.includes('"started-1"'));
    // JToken → string through the extension's converter: indented JSON.
    expect(call?.payload).toMatch(/^\{\n {2}"id": "started-1",\n/);
    expect(fixture.gridEvents).toContainEqual(expect.objectContaining({ id: "started-1", subject: "kek1" }));
    const status = await waitForEnd(durableClient(rt.client), "grid-started-1", 120_000);
    expect(status.runtimeStatus, rt.output().slice(-4000)).toBe("Completed");
    expect(status.output).toEqual(["Hello kek1"]);
  }, 150_000);
});
