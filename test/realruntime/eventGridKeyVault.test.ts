// Key Vault events through the real Event Grid extension 3.3.0 into keyrotor's keyVaultEvents
// function (issue 16): the harness serves /runtime/webhooks/eventgrid through the extension's own
// request processing; the function runs unchanged in Node with the real extension's durable client,
// and the rotation it starts runs on the real Durable extension against the Key Vault peer. The
// events are the official Key Vault examples of azure-rest-api-specs (eventgrid/data-plane/
// Microsoft.KeyVault/stable/2018-01-01/examples, both schemas), re-aimed at the managed KEK.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { rotationIds } from "../../lib/domain/keys";
import { instanceIdFor } from "../../lib/orchestration/names";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { checkDeks, ledgerEntries, seedKekWithDeks, seedVaultKey, VAULT } from "../e2e/rotation/stack";
import { specsRoot } from "../spec/specs";
import { describeRealRuntime, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

const EXAMPLES = path.join(specsRoot, "eventgrid", "data-plane", "Microsoft.KeyVault", "stable", "2018-01-01", "examples");
type Example = Record<string, unknown> & { data: Record<string, unknown> };
const example = (schema: "event-grid-schema" | "cloud-events-schema"): Example =>
  JSON.parse(readFileSync(path.join(EXAMPLES, schema, "secret_new_version_created.json"), "utf8")) as Example;

/** The official example's shape and values, about one version of a key in this vault. */
function keyEvent(schema: "event-grid-schema" | "cloud-events-schema", type: string, name: string, version: string, id: string): Example {
  const e = example(schema);
  const topic = String(e.topic ?? e.source).replace(/vaults\/[^/]+$/, `vaults/${VAULT}`);
  const data = { ...e.data, Id: `https://${VAULT}.vault.azure.net/keys/${name}/${version}`, VaultName: VAULT, ObjectType: "Key", ObjectName: name, Version: version };
  return schema === "event-grid-schema"
    ? { ...e, id, topic, subject: name, eventType: `Microsoft.KeyVault.${type}`, data }
    : { ...e, id, source: topic, subject: name, type: `Microsoft.KeyVault.${type}`, data };
}

describeRealRuntime("Key Vault events through the real Event Grid extension", () => {
  let app: RealApp;
  beforeAll(async () => {
    if (!existsSync(EXAMPLES)) throw new Error(`[test] the official Event Grid examples are missing: ${EXAMPLES}`);
    app = await startRealApp({ taskHub: "kvgridhub" });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  const deliver = (body: unknown, headers: Record<string, string> = { "aeg-event-type": "Notification" }) =>
    fetch(`${webhookOrigin(app.rt.client)}/runtime/webhooks/eventgrid?functionName=keyVaultEvents`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("a batch of official example shapes (an unmanaged vault's SecretNewVersionCreated as published, KeyNearExpiry and KeyExpired of the KEK's version) and a CloudEvents redelivery start exactly one rotation, which completes", async () => {
    const seeded = await seedKekWithDeks(app.stack, app.peers, 2, 3, "grid-kek");
    const batch = [
      example("event-grid-schema"),
      keyEvent("event-grid-schema", "KeyNearExpiry", "grid-kek", seeded.v1, "near-1"),
      keyEvent("event-grid-schema", "KeyExpired", "grid-kek", seeded.v1, "expired-1"),
    ];
    // The extension runs the batch's events at once: two simultaneous starts of one rotationId.
    expect((await deliver(batch)).status).toBe(202);
    expect((await deliver(keyEvent("cloud-events-schema", "KeyNearExpiry", "grid-kek", seeded.v1, "near-1"))).status).toBe(202);
    const rotationId = rotationIds.expiry(seeded.keyId, seeded.v1);
    const end = await waitForEnd(app.client, instanceIdFor(rotationId), 240_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-4000)}`).toBe("Completed");
    expect((end.output as RotationOutput).outcome).toBe("completed");
    expect(await app.deps.vault.listKeyVersions(VAULT, "grid-kek")).toHaveLength(2);
    expect(await checkDeks(app.stack, seeded)).toMatchObject({ mismatches: 0, count: 6 });
    const entries = await ledgerEntries(app.stack, seeded.keyId);
    expect(entries.filter((e) => e.type === "LockAcquired").map((e) => (e as { rotationId?: string }).rotationId)).toEqual([rotationId]);
    expect(entries.filter((e) => e.type === "RotationRequested")).toEqual([expect.objectContaining({ trigger: "expiry-event", actor: "system:eventgrid" })]);
    const ids = entries.map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
  }, 300_000);

  it("answers the subscription validation handshake of keyVaultEvents without invoking it", async () => {
    const r = await deliver([{ id: "v1", topic: "", subject: "", data: { validationCode: "0F0E0D0C-0B0A-4909-8807-060504030201" }, eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: "2026-03-01T00:00:00Z", dataVersion: "1" }], { "aeg-event-type": "SubscriptionValidation" });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('{"validationResponse":"0F0E0D0C-0B0A-4909-8807-060504030201"}');
    expect(app.rt.bridge.calls.filter((c) => c.kind === "eventGrid" && c.payload.includes("0F0E0D0C"))).toEqual([]);
  });

  it("refuses a KeyNearExpiry delivered without aeg-event-type (400): the app never sees it and no rotation starts", async () => {
    const seeded = await seedVaultKey(app.stack, app.peers, "kek", "grid-kek-2");
    const r = await deliver([keyEvent("event-grid-schema", "KeyNearExpiry", "grid-kek-2", seeded.v1, "no-header")], {});
    expect(r.status).toBe(400);
    expect(app.rt.bridge.calls.filter((c) => c.kind === "eventGrid" && c.payload.includes("no-header"))).toEqual([]);
    const status = await fetch(`${webhookOrigin(app.rt.client)}/runtime/webhooks/durabletask/instances/${instanceIdFor(rotationIds.expiry(seeded.keyId, seeded.v1))}`);
    expect(status.status).toBe(404);
    expect((await ledgerEntries(app.stack, seeded.keyId)).filter((e) => e.type === "RotationRequested")).toEqual([]);
  });
});
