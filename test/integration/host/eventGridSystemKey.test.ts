// dev/host asks for the eventgrid_extension system key on /runtime/webhooks/eventgrid as the Functions
// host does: HostController.ExtensionWebHookHandler (route runtime/webhooks/{extensionName}) runs under
// the SystemKeyAuthLevel policy, which wants the key named `<extension>_extension`, read by
// AuthenticationLevelHandler from `x-functions-key`, else `code`. A missing or unknown key is an empty
// 401 before the extension sees the request: no handshake, no function run. Event Grid's
// subscription URL carries `code=<key>` (docs/deploy.md).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture } from "../../fixtures/durableApp/state";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>>;
beforeAll(async () => {
  host = await fixtureHost();
});
afterAll(async () => {
  await host?.stop();
});

const webhook = (query = "") => `${host.url}/runtime/webhooks/eventgrid?functionName=keyEvents${query}`;
const event = (id: string) => ({ id, eventType: "Microsoft.KeyVault.KeyNearExpiry", subject: `s-${id}`, data: { VaultName: "v" }, eventTime: "2026-03-01T00:00:00Z", dataVersion: "1" });
const post = async (url: string, kind: string, body: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "aeg-event-type": kind, ...headers }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
};
const received = () => fixture.gridEvents.map((e) => String((e as { id?: unknown }).id));

describe("the eventgrid_extension system key on dev/host", () => {
  it("refuses a notification without a key, with another one or with the durabletask_extension key: an empty 401, and the function does not run", async () => {
    for (const query of ["", "&code=wrong", `&code=${encodeURIComponent(host.durableWebhookKey)}`]) {
      expect(await post(webhook(query), "Notification", [event(`refused${query.length}`)])).toEqual({ status: 401, text: "" });
    }
    await host.idle();
    expect(received().filter((id) => id.startsWith("refused"))).toEqual([]);
  });

  it("refuses the validation handshake, the CloudEvents OPTIONS handshake and an unknown function name without the key, before the extension answers", async () => {
    expect(await post(webhook(), "SubscriptionValidation", [{ id: "v", data: { validationCode: "abc" } }])).toEqual({ status: 401, text: "" });
    const options = await fetch(webhook(), { method: "OPTIONS", headers: { "webhook-request-origin": "eventgrid.azure.net" } });
    expect(options.status).toBe(401);
    expect(options.headers.get("webhook-allowed-origin")).toBeNull();
    expect(await post(`${host.url}/runtime/webhooks/eventgrid?functionName=nope`, "Notification", [event("nope")])).toEqual({ status: 401, text: "" });
  });

  it("accepts the key as code or as the x-functions-key header, which wins over code", async () => {
    const key = host.eventGridWebhookKey;
    expect((await post(webhook(`&code=${encodeURIComponent(key)}`), "Notification", [event("by-code")])).status).toBe(202);
    expect((await post(webhook(), "Notification", [event("by-header")], { "x-functions-key": key })).status).toBe(202);
    expect((await post(webhook(`&code=${encodeURIComponent(key)}`), "Notification", [event("bad-header")], { "x-functions-key": "wrong" })).status).toBe(401);
    expect(received()).toEqual(expect.arrayContaining(["by-code", "by-header"]));
    expect(received()).not.toContain("bad-header");
  });

  it("has a key of its own per host, other than its durabletask_extension key, or the one it is started with", async () => {
    expect(host.eventGridWebhookKey).not.toBe(host.durableWebhookKey);
    expect(host.eventGridWebhookKey.length).toBeGreaterThanOrEqual(40);
    const other = await fixtureHost();
    const given = await fixtureHost({ eventGridWebhookKey: "a-key-npm-start-chose-before-the-host-started" });
    try {
      expect(other.eventGridWebhookKey).not.toBe(host.eventGridWebhookKey);
      expect(given.eventGridWebhookKey).toBe("a-key-npm-start-chose-before-the-host-started");
      expect((await post(`${given.url}/runtime/webhooks/eventgrid?functionName=keyEvents&code=a-key-npm-start-chose-before-the-host-started`, "Notification", [event("given")])).status).toBe(202);
      expect((await post(`${given.url}/runtime/webhooks/eventgrid?functionName=keyEvents&code=${encodeURIComponent(host.eventGridWebhookKey)}`, "Notification", [event("foreign")])).status).toBe(401);
    } finally {
      await Promise.all([other.stop(), given.stop()]);
    }
  });
});
