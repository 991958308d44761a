// Hostile Event Grid deliveries (issue 21): an event whose type, data.ObjectType and object id
// disagree is rejected and recorded (EventRejected in the "system:eventgrid" chain), never acted on;
// a delivery nested past Json.NET's 64 levels is the Event Grid extension's 500 before the app runs,
// and one within that depth is recorded too.
import { afterEach, describe, expect, it } from "vitest";
import { EVENTGRID_CHAIN } from "../../../lib/api/keyVaultEvents";
import { chain, seedKey, snapshot, startApiHost, VAULT, type ApiHost } from "./support";

const WEBHOOK = "/runtime/webhooks/eventgrid?functionName=keyVaultEvents";
let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function deliver(api: ApiHost, body: string) {
  return api.host.invokeHttp("POST", WEBHOOK, { headers: { "x-functions-key": api.host.eventGridWebhookKey, "aeg-event-type": "Notification", "content-type": "application/json" }, body });
}

function keyEvent(type: string, name: string, version: string, data: Record<string, unknown> = {}) {
  return {
    id: `ev-${type}-${JSON.stringify(data).length}`, topic: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`, subject: name,
    eventType: `Microsoft.KeyVault.${type}`, eventTime: "2026-03-01T00:00:00Z", dataVersion: "1", metadataVersion: "1",
    data: { Id: `https://${VAULT}.vault.azure.net/keys/${name}/${version}`, VaultName: VAULT, ObjectType: "Key", ObjectName: name, Version: version, NBF: null, EXP: null, ...data },
  };
}

describe("contradictory Key Vault events", () => {
  it("a SecretNearExpiry whose data says ObjectType Key starts no KEK rotation and is recorded as EventContradictory", async () => {
    h = await startApiHost();
    const { v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    const r = await deliver(h, JSON.stringify([keyEvent("SecretNearExpiry", "tenant-kek", v1)]));
    expect(r.status).toBeLessThan(300);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    const rejected = await chain(h.mem, EVENTGRID_CHAIN);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ type: "EventRejected", error: { code: "EventContradictory" }, details: { field: "data.ObjectType", eventType: "Microsoft.KeyVault.SecretNearExpiry" } });
  });

  it("a KeyNearExpiry whose object id points at a secret, another key or another version is not acted on", async () => {
    h = await startApiHost();
    const { v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    const ids = [`https://${VAULT}.vault.azure.net/secrets/tenant-kek/${v1}`, `https://${VAULT}.vault.azure.net/keys/other-kek/${v1}`, `https://${VAULT}.vault.azure.net/keys/tenant-kek/0000000000000000000000000000000f`, `https://evil.vault.azure.net/keys/tenant-kek/${v1}`];
    for (const Id of ids) expect((await deliver(h, JSON.stringify([keyEvent("KeyNearExpiry", "tenant-kek", v1, { Id })]))).status).toBeLessThan(300);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect((await chain(h.mem, EVENTGRID_CHAIN)).map((e) => e.error?.code)).toEqual(ids.map(() => "EventContradictory"));
  });
});

describe("deeply nested deliveries", () => {
  const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

  it("a 5,000-deep event is the extension's 500 (its JToken.Parse stops at 64 levels), starts and records nothing", async () => {
    h = await startApiHost();
    const { v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    const ev = JSON.stringify(keyEvent("KeyNearExpiry", "tenant-kek", v1)).replace('"NBF":null', `"NBF":${nested(5000)}`);
    expect((await deliver(h, `[${ev}]`)).status).toBe(500);
    expect((await deliver(h, nested(5000))).status).toBe(500);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("an event nested deeper than 32 but within the extension's 64 is rejected as EventTooDeep and recorded once", async () => {
    h = await startApiHost();
    const { v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    const ev = JSON.stringify(keyEvent("KeyNearExpiry", "tenant-kek", v1)).replace('"NBF":null', `"NBF":${nested(50)}`);
    for (let i = 0; i < 2; i++) expect((await deliver(h, `[${ev}]`)).status).toBeLessThan(300);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(await chain(h.mem, EVENTGRID_CHAIN)).toMatchObject([{ type: "EventRejected", error: { code: "EventTooDeep" }, details: { field: "event" } }]);
  });
});
