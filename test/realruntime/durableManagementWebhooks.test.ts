// The Durable extension's own HTTP management API (HttpApiHandler) on the real extension 3.19.0,
// served by the harness behind the Functions host's /runtime/webhooks/durabletask route: the
// check-status links the app's durable client builds (createCheckStatusResponse) work against it.
// The links carry the origin of the request the app answered; the Functions host serves its HTTP
// functions and this route on one origin, so the test moves them to the harness's.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { describeRealRuntime } from "./realRuntimeSupport";

type Links = Record<"id" | "statusQueryGetUri" | "sendEventPostUri" | "terminatePostUri" | "purgeHistoryDeleteUri" | "rewindPostUri" | "restartPostUri" | "suspendPostUri" | "resumePostUri", string>;

describeRealRuntime("the Durable extension's HTTP management webhooks", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../fixtures/durableApp", f)), taskHub: "mgmthub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  const onHarness = (u: string): string => u.replace(/^https?:\/\/[^/]+/, webhookOrigin(rt.client));

  /** The app's createCheckStatusResponse for an instance it started, with the links moved to the harness. */
  async function checkStatus(id: string, name: string): Promise<Links> {
    expect((await rt.invokeHttp("POST", `/api/durable/start/${id}`, { body: { name } })).status).toBe(202);
    const r = await rt.invokeHttp("POST", `/api/durable/checkStatus/${id}`, { body: {} });
    expect(r.status).toBe(202);
    const links = r.json() as Links;
    return Object.fromEntries(Object.entries(links).map(([k, v]) => [k, onHarness(v)])) as Links;
  }

  /** GETs the status link until `done` holds for the answer, or fails after timeoutMs. */
  async function pollStatus(url: string, done: (status: number, body: { runtimeStatus?: string }) => boolean, timeoutMs = 60_000): Promise<{ status: number; body: Record<string, unknown>; location: string | null; retryAfter: string | null }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(url);
      const text = await res.text();
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      if (done(res.status, body)) return { status: res.status, body, location: res.headers.get("location"), retryAfter: res.headers.get("retry-after") };
      if (Date.now() > deadline) throw new Error(`[test] ${url} still ${res.status} ${text} after ${timeoutMs} ms\n${rt.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it("hands the app management links on the webhook route, with the task hub and connection in the query and no code", async () => {
    const links = await checkStatus("links-1", "sequence");
    expect(links.statusQueryGetUri).toBe(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/instances/links-1?taskHub=mgmthub&connection=Storage`);
    expect(links.sendEventPostUri).toBe(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/instances/links-1/raiseEvent/{eventName}?taskHub=mgmthub&connection=Storage`);
    expect(links.terminatePostUri).toContain("/instances/links-1/terminate?reason={text}&taskHub=mgmthub&connection=Storage");
  }, 120_000);

  it("status link: 202 with Location and Retry-After while running, raise-event link 202, then 200 Completed; a finished instance refuses events with 410; purge 200 then 404", async () => {
    const links = await checkStatus("approve-1", "approval");
    const running = await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(running.body).toMatchObject({ name: "approval", instanceId: "approve-1", customStatus: { waitingFor: "Approved" }, output: null });
    expect(running.location).toBe(links.statusQueryGetUri);
    expect(running.retryAfter).toBe("5");
    const raise = await fetch(links.sendEventPostUri.replace("{eventName}", "Approved"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify("yes") });
    expect(raise.status).toBe(202);
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: "yes", customStatus: { waitingFor: null } });
    // The extension's timestamps are whole seconds (dev/host writes milliseconds).
    expect(done.body.createdTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((await fetch(links.sendEventPostUri.replace("{eventName}", "Approved"), { method: "POST", headers: { "content-type": "application/json" }, body: "1" })).status).toBe(410);
    const purge = await fetch(links.purgeHistoryDeleteUri, { method: "DELETE" });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ instancesDeleted: 1 });
    expect((await fetch(links.statusQueryGetUri)).status).toBe(404);
  }, 120_000);

  it("terminate link: 202, then the status link reports Terminated with the reason as output", async () => {
    const links = await checkStatus("forever-1", "forever");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect((await fetch(links.terminatePostUri.replace("{text}", "stop%20it"), { method: "POST" })).status).toBe(202);
    const end = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(end.body).toMatchObject({ name: "forever", runtimeStatus: "Terminated", output: "stop it" });
  }, 120_000);

  it("creation URL: POST orchestrators/{functionName}/{instanceId} starts it and answers the check-status payload on the webhook origin", async () => {
    const r = await fetch(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/orchestrators/sequence/created-1`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(["Oslo"]) });
    expect(r.status).toBe(202);
    expect(r.headers.get("retry-after")).toBe("10");
    const links = (await r.json()) as Links;
    expect(links.id).toBe("created-1");
    expect(r.headers.get("location")).toBe(links.statusQueryGetUri);
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: ["Hello Oslo"] });
    expect((await fetch(`${webhookOrigin(rt.client)}/runtime/webhooks/durabletask/instances/no-such-instance`)).status).toBe(404);
  }, 120_000);
});
