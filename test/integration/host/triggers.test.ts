// HTTP, Event Grid and timer triggers, and the app's DurableClient talking to the host's durable
// webhook API over loopback HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture } from "../../fixtures/durableApp/state";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>>;
beforeAll(async () => {
  host = await fixtureHost();
});
afterAll(async () => {
  await host.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${host.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

const durable = (op: string, id: string | undefined, body: unknown = {}) => call("POST", `/api/durable/${op}${id ? `/${encodeURIComponent(id)}` : ""}`, body);

describe("HTTP functions", () => {
  it("routes by route template and method, passing params, query and headers", async () => {
    const r = await call("GET", "/api/greet/Ada?q=42", undefined, { "x-user": "bob" });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ hello: "Ada", q: "42", user: "bob" });
    expect((await call("POST", "/api/greet/Ada")).status).toBe(404);
    expect((await call("GET", "/api/nothing-here")).status).toBe(404);
  });

  it("passes the body and returns status, headers and JSON body", async () => {
    const r = await call("POST", "/api/echo", { a: [1, 2] });
    expect(r.status).toBe(201);
    expect(r.headers.get("x-echo")).toBe("yes");
    expect(r.json()).toEqual({ got: { a: [1, 2] } });
    const inProcess = await host.invokeHttp("POST", "/api/echo", { body: { b: true } });
    expect(inProcess.status).toBe(201);
    expect(inProcess.json()).toEqual({ got: { b: true } });
  });
});

describe("the app's DurableClient against the host", () => {
  it("starts with an instance id, refuses a duplicate while running, raises events and reads status", async () => {
    const started = await durable("start", "http-1", { name: "approval", input: { n: 1 } });
    expect(started.json()).toEqual({ id: "http-1" });
    const dup = await durable("start", "http-1", { name: "approval" });
    expect(dup.status).toBe(409); // the fixture's own mapping of a thrown start
    // The extension's HTTP API does not catch the client's InvalidOperationException: 500, not 409.
    expect(dup.json().error).toMatch(/status code: 500\..*An Orchestration instance with the status Running already exists/);
    await host.idle();
    const running = await durable("status", "http-1");
    expect(running.json()).toMatchObject({ instanceId: "http-1", runtimeStatus: "Running", input: { n: 1 }, customStatus: { waitingFor: "Approved" } });
    await durable("raise", "http-1", { event: "Approved", input: "ok" });
    await host.client.waitForCompletion("http-1");
    expect((await durable("status", "http-1")).json()).toMatchObject({ runtimeStatus: "Completed", output: "ok" });
  });

  it("terminates and purges through the client", async () => {
    await durable("start", "http-2", { name: "forever" });
    await host.idle();
    expect((await durable("terminate", "http-2", { reason: "stop" })).status).toBe(202);
    await host.client.waitForCompletion("http-2");
    expect((await durable("purge", "http-2")).json()).toEqual({ instancesDeleted: 1 });
    expect((await durable("status", "http-2")).json().error).toMatch(/404/);
  });

  it("signals an entity and reads its state through the client", async () => {
    await durable("signal", undefined, { entityKey: "http-e", op: "add", input: 7 });
    await host.idle();
    expect((await durable("read", undefined, { entityKey: "http-e" })).json()).toEqual({ entityExists: true, entityState: { total: 7, ops: 1 } });
  });

  it("builds check-status responses that point at the host", async () => {
    const r = await durable("checkStatus", "http-1");
    expect(r.status).toBe(202);
    const links = r.json();
    expect(links.id).toBe("http-1");
    const status = await fetch(links.statusQueryGetUri.replace("http://localhost:7071", host.url));
    expect(((await status.json()) as { runtimeStatus: string }).runtimeStatus).toBe("Completed");
  });
});

describe("Event Grid trigger", () => {
  // The host's eventgrid_extension system key, as Event Grid's subscription URL carries it.
  const path = "/runtime/webhooks/eventgrid?functionName=keyEvents&code=";
  const gridCall = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    call(method, p.endsWith("code=") ? `${p}${encodeURIComponent(host.eventGridWebhookKey)}` : p, body, headers);

  it("answers the subscription validation handshake", async () => {
    const r = await gridCall("POST", path, [{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", subject: "", data: { validationCode: "abc-123" }, eventTime: new Date().toISOString(), dataVersion: "1" }], {
      "aeg-event-type": "SubscriptionValidation",
    });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ validationResponse: "abc-123" });
  });

  it("answers the CloudEvents abuse-protection handshake", async () => {
    const r = await gridCall("OPTIONS", path, undefined, { "webhook-request-origin": "eventgrid.azure.net" });
    expect(r.status).toBe(200);
    expect(r.headers.get("webhook-allowed-origin")).toBe("eventgrid.azure.net");
  });

  it("delivers notifications to the function (202) and reports a failing handler (500)", async () => {
    const event = { id: "ev1", eventType: "Microsoft.KeyVault.KeyNearExpiry", subject: "kek1", data: { VaultName: "v" }, eventTime: new Date().toISOString(), dataVersion: "1" };
    const r = await gridCall("POST", path, [event], { "aeg-event-type": "Notification" });
    expect(r.status).toBe(202);
    expect(fixture.gridEvents).toContainEqual(expect.objectContaining({ id: "ev1", subject: "kek1" }));
    expect((await host.client.waitForCompletion("grid-ev1")).output).toEqual(["Hello kek1"]);
    const bad = await gridCall("POST", path, [{ ...event, id: "ev2", data: { fail: true } }], { "aeg-event-type": "Notification" });
    expect(bad.status).toBe(500);
    expect((await gridCall("POST", "/runtime/webhooks/eventgrid?functionName=nope&code=", [event])).status).toBe(404);
  });

  it("answers a batch holding a non-object event with the extension's 500, after invoking the batch's object events", async () => {
    // The real Event Grid extension cannot bind a non-object event and throws (test/support/eventGridWebhookContract.ts).
    const before = fixture.gridEvents.length;
    for (const batch of [[null], [{ id: "ok", eventType: "x", data: {} }, 42], "text"]) {
      expect((await gridCall("POST", path, batch, { "aeg-event-type": "Notification" })).status).toBe(500);
    }
    expect(fixture.gridEvents.slice(before).map((e) => (e as { id: string }).id)).toEqual(["ok"]);
  });
});

describe("timer trigger", () => {
  it("runs a timer function on demand with isPastDue, and through the admin endpoint", async () => {
    const before = fixture.ticks.length;
    await host.fireTimer("tick", { isPastDue: true });
    expect(fixture.ticks.at(-1)).toEqual({ isPastDue: true });
    expect((await host.client.waitForCompletion(`tick-${before + 1}`)).output).toEqual(["Hello tick"]);
    expect((await call("POST", "/admin/functions/tick", {})).status).toBe(202);
    expect(fixture.ticks.length).toBe(before + 2);
    expect(host.functions).toContainEqual(expect.objectContaining({ name: "tick", trigger: "timerTrigger", schedule: "0 */5 * * * *" }));
  });
});
