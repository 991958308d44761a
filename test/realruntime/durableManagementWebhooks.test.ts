// The Durable extension's own HTTP management API (HttpApiHandler) on the real extension 3.19.0,
// served by the harness behind the Functions host's /runtime/webhooks/durabletask route: the
// check-status links the app's durable client builds (createCheckStatusResponse) work against it.
// The cases (test/support/durableManagementWebhookContract.ts) run against dev/host too
// (test/e2e/durableManagementWebhooks.test.ts).
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { durableManagementWebhookContract, type Links } from "../support/durableManagementWebhookContract";
import { describeRealRuntime } from "./realRuntimeSupport";

describeRealRuntime("the Durable extension's HTTP management webhooks", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../fixtures/durableApp", f)), taskHub: "mgmthub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  it("hands the app management links on the webhook route, with the task hub and connection in the query and no code", async () => {
    expect((await rt.invokeHttp("POST", "/api/durable/start/links-1", { body: { name: "sequence" } })).status).toBe(202);
    const r = await rt.invokeHttp("POST", "/api/durable/checkStatus/links-1", { body: {} });
    // The origin is the request's (the host's front end), moved to the webhook route's.
    const links = Object.fromEntries(Object.entries(r.json() as Links).map(([k, v]) => [k, v.replace(/^https?:\/\/[^/]+/, webhookOrigin(rt.client))])) as Links;
    expect(links.statusQueryGetUri).toBe(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/instances/links-1?taskHub=mgmthub&connection=Storage`);
    expect(links.sendEventPostUri).toBe(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/instances/links-1/raiseEvent/{eventName}?taskHub=mgmthub&connection=Storage`);
    expect(links.terminatePostUri).toContain("/instances/links-1/terminate?reason={text}&taskHub=mgmthub&connection=Storage");
  }, 120_000);

  durableManagementWebhookContract(() => ({ origin: () => webhookOrigin(rt.client), invokeHttp: (m, p, body) => rt.invokeHttp(m, p, { body }) }));
});
