// What /runtime/webhooks/eventgrid?functionName=keyEvents answers for the fixture app's Event Grid
// function (test/fixtures/durableApp/triggers.ts), run against the real Event Grid extension 3.3.0
// (test/realruntime/eventGridWebhook.test.ts) and against dev/host (test/e2e/eventGridWebhook.test.ts),
// so dev/host's answers are the real extension's. `origin` is the server's http://host:port.
//
// `systemKey` is the host's `eventgrid_extension` system key, sent as `code` with every request, as
// Event Grid's subscription URL carries it in Azure. Only dev/host checks it (an empty 401 without it,
// test/integration/host/eventGridSystemKey.test.ts): the harness has the real extension but no
// Functions host, and the key is the host's check, made before the extension sees the request.
import { expect, it } from "vitest";
import { fixture } from "../fixtures/durableApp/state";

interface Answer {
  status: number;
  contentType: string | null;
  allowedOrigin: string | null;
  text: string;
}

/** The event ids the fixture's keyEvents function has received. */
const received = (): string[] => fixture.gridEvents.map((e) => String((e as { id?: unknown }).id));

function event(id: string, data: Record<string, unknown> = { VaultName: "v" }): Record<string, unknown> {
  return { id, eventType: "Microsoft.KeyVault.KeyNearExpiry", subject: `subject-${id}`, data, eventTime: "2026-03-01T00:00:00Z", dataVersion: "1", metadataVersion: "1" };
}

const validationEvent = (code: unknown) => ({
  id: "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", topic: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v", subject: "",
  data: { validationCode: code, validationUrl: "https://rp-eastus2.eventgrid.azure.net/eventsubscriptions/s/validate?id=1&t=2&apiVersion=2018-05-01-preview&token=x" },
  eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: "2026-03-01T00:00:00Z", metadataVersion: "1", dataVersion: "1",
});

export function eventGridWebhookContract(origin: () => string, systemKey: () => string): void {
  async function send(method: string, body: string | undefined, headers: Record<string, string>, functionName: string | null = "keyEvents"): Promise<Answer> {
    const query = `?${functionName === null ? "" : `functionName=${functionName}&`}code=${encodeURIComponent(systemKey())}`;
    const res = await fetch(`${origin()}/runtime/webhooks/eventgrid${query}`, {
      method, headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers }, ...(body !== undefined ? { body } : {}),
    });
    return { status: res.status, contentType: res.headers.get("content-type"), allowedOrigin: res.headers.get("webhook-allowed-origin"), text: await res.text() };
  }
  const notify = (body: unknown, type = "Notification") => send("POST", typeof body === "string" ? body : JSON.stringify(body), { "aeg-event-type": type });

  it("answers the SubscriptionValidation handshake with the code as {\"validationResponse\"} in a text/plain body, the header's case notwithstanding, invoking nothing", async () => {
    for (const header of ["SubscriptionValidation", "subscriptionvalidation"]) {
      const r = await notify([validationEvent("512d38b6-c7b8-40c8-89fe-f46f9e9622b6")], header);
      expect(r).toEqual({ status: 200, contentType: "text/plain; charset=utf-8", allowedOrigin: null, text: '{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}' });
    }
    expect(received()).not.toContain("2d1781af-3a4c-4d7c-bd0c-e34b19da4e66");
  });

  it("writes the validation code as System.Text.Json escapes it (HTML-sensitive and non-ASCII characters as \\uXXXX)", async () => {
    const r = await notify([validationEvent("a<b>&'+é\"\\z")], "SubscriptionValidation");
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"validationResponse":"a\\u003Cb\\u003E\\u0026\\u0027\\u002B\\u00E9\\u0022\\\\z"}');
  });

  it("reads the code of the batch's first event whatever its type: a first event without one, or a body that is not JSON, is a 500 with no body", async () => {
    expect(await notify([{ id: "x", data: {} }, validationEvent("second")], "SubscriptionValidation")).toMatchObject({ status: 500, text: "" });
    expect(await notify("not json", "SubscriptionValidation")).toMatchObject({ status: 500, text: "" });
  });

  it("takes a CloudEvents-schema handshake object whose data is a JSON string", async () => {
    const r = await notify({ specversion: "1.0", id: "c", source: "s", type: "Microsoft.EventGrid.SubscriptionValidationEvent", data: '{"validationCode":"cloud-1"}' }, "SubscriptionValidation");
    expect(r).toMatchObject({ status: 200, text: '{"validationResponse":"cloud-1"}' });
  });

  it("answers the CloudEvents abuse-protection OPTIONS with WebHook-Allowed-Origin eventgrid.azure.net, whatever origin the request names", async () => {
    for (const headers of [{ "webhook-request-origin": "eventgrid.azure.net" }, { "webhook-request-origin": "attacker.example" }, {}] as Record<string, string>[]) {
      expect(await send("OPTIONS", undefined, headers)).toEqual({ status: 200, contentType: null, allowedOrigin: "eventgrid.azure.net", text: "" });
    }
  });

  it("refuses a delivery without aeg-event-type, or with one it does not know, with an empty 400 before reading the body, invoking nothing", async () => {
    expect(await send("POST", JSON.stringify([event("no-header")]), {})).toMatchObject({ status: 400, text: "" });
    expect(await send("POST", "not json", {})).toMatchObject({ status: 400, text: "" });
    expect(await notify([event("bogus-header")], "Bogus")).toMatchObject({ status: 400, text: "" });
    expect(received()).not.toContain("no-header");
    expect(received()).not.toContain("bogus-header");
  });

  it("accepts Unsubscribe with 202, invoking nothing", async () => {
    expect(await notify([event("unsub")], "Unsubscribe")).toMatchObject({ status: 202, text: "" });
    expect(received()).not.toContain("unsub");
  });

  it("delivers every event of a Notification batch, and a single event object (CloudEvents structured mode), each to one invocation: 202", async () => {
    expect(await notify([event("batch-1"), event("batch-2"), event("batch-3")], "notification")).toMatchObject({ status: 202, text: "" });
    const cloud = { specversion: "1.0", id: "cloud-1", source: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v", type: "Microsoft.KeyVault.KeyNearExpiry", subject: "k", time: "2026-03-01T00:00:00Z", data: { VaultName: "v" } };
    expect(await notify(cloud)).toMatchObject({ status: 202, text: "" });
    for (const id of ["batch-1", "batch-2", "batch-3", "cloud-1"]) expect(received().filter((r) => r === id)).toHaveLength(1);
    expect(fixture.gridEvents.find((e) => (e as { id?: string }).id === "cloud-1")).toEqual(cloud);
  });

  it("answers 500 'Exception while executing function' when one event's invocation fails, after the batch's other events ran", async () => {
    const r = await notify([event("fails-1", { fail: true }), event("after-failure")]);
    expect(r.status).toBe(500);
    expect(r.text).toMatch(/^Exception while executing function: (Functions\.)?keyEvents$/);
    expect(received()).toEqual(expect.arrayContaining(["fails-1", "after-failure"]));
  });

  it("answers a batch holding a non-object event with an empty 500 (retried), not a 400, after running the batch's object events", async () => {
    expect(await notify([42, event("after-42")])).toMatchObject({ status: 500, text: "" });
    expect(await notify([event("before-null"), null])).toMatchObject({ status: 500, text: "" });
    expect(await notify("text")).toMatchObject({ status: 500, text: "" });
    expect(await notify("not json")).toMatchObject({ status: 500, text: "" });
    expect(received()).toEqual(expect.arrayContaining(["after-42", "before-null"]));
  });

  it("reads bodies nested 64 deep (Json.NET's MaxDepth) and answers an empty 500 for 65, invoking nothing", async () => {
    const nested = (id: string, depth: number) => `[{"id":"${id}","data":${"[".repeat(depth - 2)}${"]".repeat(depth - 2)}}]`;
    expect(await notify(nested("depth-64", 64))).toMatchObject({ status: 202 });
    expect(await notify(nested("depth-65", 65))).toMatchObject({ status: 500, text: "" });
    expect(received()).toContain("depth-64");
    expect(received()).not.toContain("depth-65");
  });

  it("finds the function by its exact name: another case, an unknown or no name is 404 'cannot find function'", async () => {
    for (const [name, shown] of [["keyevents", "keyevents"], ["nope", "nope"], ["", ""], [null, ""]] as const) {
      expect(await send("POST", JSON.stringify([event("misnamed")]), { "aeg-event-type": "Notification" }, name)).toEqual({
        status: 404, contentType: "text/plain; charset=utf-8", allowedOrigin: null, text: `cannot find function: '${shown}'`,
      });
    }
    expect(received()).not.toContain("misnamed");
  });

  it("answers verbs the host's webhook route does not take with 405", async () => {
    expect((await send("PUT", JSON.stringify([event("put")]), { "aeg-event-type": "Notification" })).status).toBe(405);
    expect((await send("GET", undefined, { "aeg-event-type": "Unsubscribe" })).status).toBe(202);
  });
}
