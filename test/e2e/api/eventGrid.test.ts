// Key Vault events delivered by Event Grid to the keyVaultEvents function where the Functions host
// serves it: POST /runtime/webhooks/eventgrid?functionName=keyVaultEvents. Payload shapes are copies
// of the Microsoft.KeyVault examples in azure-rest-api-specs (eventgrid/data-plane/Microsoft.KeyVault/
// stable/2018-01-01/examples), re-aimed at the test vault.
import { afterEach, describe, expect, it } from "vitest";
import { EVENTGRID_CHAIN } from "../../../lib/api/keyVaultEvents";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { chain, seedKey, snapshot, startApiHost, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const WEBHOOK = "/runtime/webhooks/eventgrid?functionName=keyVaultEvents";

/** Event Grid schema, PascalCase data (what live Key Vault events look like). */
function eventGridShape(type: string, name: string, version: string, vault = VAULT, id = "00eccf70-95a7-4e7c-8299-2eb17ee9ad64") {
  return {
    id,
    topic: `/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/${vault}`,
    subject: name,
    eventType: `Microsoft.KeyVault.${type}`,
    eventTime: "2019-07-25T01:08:33.1036736Z",
    data: { Id: `https://${vault}.vault.azure.net/${type.startsWith("Secret") ? "secrets" : type.startsWith("Certificate") ? "certificates" : "keys"}/${name}/${version}`, VaultName: vault, ObjectType: type.startsWith("Secret") ? "Secret" : type.startsWith("Certificate") ? "Certificate" : "Key", ObjectName: name, Version: version, NBF: "1559081980", EXP: "1559082102" },
    dataVersion: "1",
    metadataVersion: "1",
  };
}
/** The same with camelCase data, as the docs and some SDKs write it. */
function camelShape(type: string, name: string, version: string) {
  const e = eventGridShape(type, name, version);
  return { ...e, id: "a1", data: { id: e.data.Id, vaultName: e.data.VaultName, objectType: e.data.ObjectType, objectName: name, version, nbf: null, exp: null } };
}
/** CloudEvents 1.0 schema. */
function cloudShape(type: string, name: string, version: string) {
  const e = eventGridShape(type, name, version);
  return { source: e.topic, subject: name, type: e.eventType, time: "2019-07-25T01:08:33.1036736Z", id: "c1", data: e.data, specversion: "1.0" };
}

async function deliver(api: ApiHost, events: unknown, kind = "Notification") {
  return api.host.invokeHttp("POST", WEBHOOK, { headers: { "x-functions-key": api.host.eventGridWebhookKey, "aeg-event-type": kind, "content-type": "application/json" }, body: typeof events === "string" ? events : JSON.stringify(events) });
}

describe("Key Vault events", () => {
  it("answers the subscription validation handshake", async () => {
    h = await startApiHost();
    const r = await deliver(h, [{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", subject: "", eventTime: "2026-01-01T00:00:00Z", data: { validationCode: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" }, dataVersion: "1" }], "SubscriptionValidation");
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" });
  });

  it("KeyNearExpiry for a managed KEK in PascalCase, camelCase and CloudEvents, delivered 10 times, starts exactly one rotation", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const shapes = [eventGridShape("KeyNearExpiry", "tenant-kek", v1), camelShape("KeyNearExpiry", "tenant-kek", v1), cloudShape("KeyExpired", "tenant-kek", v1)];
    for (let i = 0; i < 10; i++) {
      const r = await deliver(h, [shapes[i % 3]]);
      expect(r.status).toBeLessThan(300);
    }
    const rotationId = `${keyId}@expiry:${v1}`;
    const done = await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect(done.runtimeStatus).toBe("Completed");
    await h.host.idle();
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    const entries = await chain(h.mem, keyId);
    expect(entries.filter((e) => e.type === "LockAcquired").map((e) => e.rotationId)).toEqual([rotationId]);
    expect(entries.find((e) => e.type === "RotationRequested")).toMatchObject({ trigger: "expiry-event", actor: "system:eventgrid" });
  });

  it("ignores events from a vault outside KEYROTOR_VAULT_URLS and for objects keyrotor does not manage", async () => {
    h = await startApiHost();
    const { v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    expect((await deliver(h, [eventGridShape("KeyNearExpiry", "tenant-kek", v1, "foreign-vault")])).status).toBeLessThan(300);
    expect((await deliver(h, [eventGridShape("KeyNearExpiry", "someone-elses-key", v1)])).status).toBeLessThan(300);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages).toHaveLength(0);
  });

  it("answers a body that is not JSON with the extension's 500; accepts garbage events (202, not retried), starts nothing, and records one EventRejected per distinct payload", async () => {
    h = await startApiHost();
    await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    // The Event Grid extension's JToken.Parse throws before the app runs: a 500 (test/support/eventGridWebhookContract.ts).
    expect((await deliver(h, "{not json")).status).toBe(500);
    const valid = eventGridShape("KeyNearExpiry", "tenant-kek", "v");
    const garbage = [{ hello: "world" }, { ...valid, data: { ...valid.data, VaultName: "../../etc" } }, { specversion: "0.3", type: "Microsoft.KeyVault.KeyExpired" }];
    for (const g of [...garbage, ...garbage]) {
      const r = await deliver(h, [g]);
      expect(r.status).toBe(202);
    }
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    const rejected = await chain(h.mem, EVENTGRID_CHAIN);
    expect(rejected.map((e) => e.type)).toEqual(["EventRejected", "EventRejected", "EventRejected"]);
    expect(rejected[1]!.details?.field).toBe("data.VaultName");
  });

  it("Certificate near expiry raises CertificateExpiring with responder guidance", async () => {
    h = await startApiHost();
    await deliver(h, [eventGridShape("CertificateNearExpiry", "web-tls", "ee059b2bb5bc48398a53b168c6cdcb10")]);
    await deliver(h, [eventGridShape("CertificateNearExpiry", "web-tls", "ee059b2bb5bc48398a53b168c6cdcb10")]);
    expect(h.mem.events.messages.map((m) => m.subject)).toEqual(["CertificateExpiring"]);
    expect(h.mem.events.messages[0]!.body.guidance.recommendedAction).toMatch(/issuer policy/);
  });

  it("KeyNewVersionCreated for a version keyrotor did not create is recorded and alerted once; its own versions are not", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const rogue = h.mem.rotation.vault.seedKey(VAULT, "tenant-kek");
    await deliver(h, [eventGridShape("KeyNewVersionCreated", "tenant-kek", v1)]);
    await deliver(h, [eventGridShape("KeyNewVersionCreated", "tenant-kek", rogue)]);
    await deliver(h, [cloudShape("KeyNewVersionCreated", "tenant-kek", rogue)]);
    const unmanaged = (await chain(h.mem, keyId)).filter((e) => e.type === "UnmanagedVersionDetected");
    expect(unmanaged.map((e) => e.versionAfter)).toEqual([rogue]);
    expect(h.mem.events.messages.map((m) => m.subject)).toEqual(["UnmanagedVersionDetected"]);
    expect(h.mem.events.messages[0]!.body.severity).toBe("critical");
  });
});
