// One vault object, one managed key: PUT /api/keys/{keyId} through the real functions on the host.
// keyIds are canonical (vault and object names are case-insensitive in Key Vault), an object already
// managed under any kind or spelling is refused with 409 naming its keyId, and the key's type and
// permitted operations must fit the kind.
import { afterEach, describe, expect, it } from "vitest";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { ADMIN, AUDITOR, chain, OPERATOR, seedKey, snapshot, startApiHost, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const path = (keyId: string) => `/api/keys/${encodeURIComponent(keyId)}`;
const policy = (policyId: string, kinds: string[]) => ({ policyId, tenant: "contoso", kinds, schedule: { preset: "quarterly" }, expiresAfter: "P200D" });
const KEK = `kek:${VAULT}/orders-kek`;
const BODY = { kek: { policyId: "kek-q", tenant: "contoso" }, signing: { policyId: "sign-q", tenant: "contoso" }, secret: { policyId: "secret-q", tenant: "contoso" } };

/** A host with a KEK (RSA, wrap/unwrap) named orders-kek in the managed vault, and policies for every kind. */
async function host(): Promise<ApiHost> {
  const s = await startApiHost();
  await s.mem.policies.put(policy("kek-q", ["kek"]), undefined);
  await s.mem.policies.put(policy("sign-q", ["signing"]), undefined);
  await s.mem.policies.put(policy("secret-q", ["secret"]), undefined);
  s.mem.rotation.vault.seedKey(VAULT, "orders-kek", "wrap");
  return s;
}

describe("one vault object, one managed key", () => {
  it("refuses the KEK's vault key registered again as a signing key: 409 naming the KEK's keyId, nothing changes", async () => {
    h = await host();
    expect((await h.call("PUT", path(KEK), { as: ADMIN, body: BODY.kek })).status).toBe(201);
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", path(`signing:${VAULT}/orders-kek`), { as: ADMIN, body: BODY.signing });
    expect(r.status, r.body).toBe(409);
    expect(r.json().error).toMatchObject({ code: "VaultObjectRegistered", field: "keyId" });
    expect(r.json().error.message).toContain(KEK);
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.rotation.inventory.rows.has(`signing:${VAULT}/orders-kek`)).toBe(false);
  });

  it("refuses a secret of the same vault and name as a managed KEK: 409 naming the KEK", async () => {
    h = await host();
    await h.call("PUT", path(KEK), { as: ADMIN, body: BODY.kek });
    await h.mem.rotation.vault.setSecret(VAULT, "orders-kek", "value-of-a-secret", { rotationId: "seed" });
    const r = await h.call("PUT", path(`secret:${VAULT}/orders-kek`), { as: ADMIN, body: BODY.secret });
    expect(r.status, r.body).toBe(409);
    expect(r.json().error).toMatchObject({ code: "VaultObjectRegistered", field: "keyId" });
    expect(r.json().error.message).toContain(KEK);
  });

  it("accepts other case in the keyId and registers the key under its canonical, lower-case keyId", async () => {
    h = await host();
    const r = await h.call("PUT", path(`KEK:Demo-Vault/Orders-KEK`), { as: ADMIN, body: BODY.kek });
    expect(r.status, r.body).toBe(201);
    expect(r.json().key).toMatchObject({ keyId: KEK });
    expect([...h.mem.rotation.inventory.rows.keys()]).toEqual([KEK]);
    expect(await chain(h.mem, KEK)).toHaveLength(1);
  });

  it("a registration in other case of a registered key is the same registration (200), not a second key with its own lock", async () => {
    h = await host();
    await h.call("PUT", path(KEK), { as: ADMIN, body: BODY.kek });
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", path(`kek:${VAULT.toUpperCase()}/Orders-Kek`), { as: ADMIN, body: BODY.kek });
    expect(r.status, r.body).toBe(200);
    expect(r.json().key).toMatchObject({ keyId: KEK });
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("refuses a wrap-only RSA key as a signing key (it cannot sign), naming keyId, storing nothing", async () => {
    h = await host();
    h.mem.rotation.vault.seedKey(VAULT, "wrapper", "wrap");
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", path(`signing:${VAULT}/wrapper`), { as: ADMIN, body: BODY.signing });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "SigningOpsMissing", field: "keyId" });
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("refuses a KEK whose current version may not wrap and unwrap, naming keyId", async () => {
    h = await host();
    const v = h.mem.rotation.vault.seedKey(VAULT, "no-unwrap", "wrap");
    await h.mem.rotation.vault.updateKeyVersion(VAULT, "no-unwrap", v, { keyOps: ["wrapKey", "encrypt"] });
    const r = await h.call("PUT", path(`kek:${VAULT}/no-unwrap`), { as: ADMIN, body: BODY.kek });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "KekOpsMissing", field: "keyId" });
    expect(r.json().error.message).toContain("unwrapKey");
  });

  it("registers an EC signing key and reports its type as checked", async () => {
    h = await host();
    h.mem.rotation.vault.seedKey(VAULT, "token-signer", "sign");
    const r = await h.call("PUT", path(`signing:${VAULT}/token-signer`), { as: ADMIN, body: BODY.signing });
    expect(r.status, r.body).toBe(201);
    expect(r.json().keyTypeChecked).toBe(true);
  });

  it("a rotation requested in other case runs under the key's canonical keyId (one key, one lock)", async () => {
    h = await host();
    await h.call("PUT", path(KEK), { as: ADMIN, body: BODY.kek });
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId: "kek:Demo-Vault/Orders-KEK", reason: "rotate after a staff change", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ rotationId: expect.stringMatching(new RegExp(`^${KEK}@manual:`)) as unknown });
  });

  it("the ledger of a key reads the same in any spelling of its keyId", async () => {
    h = await host();
    await h.call("PUT", path(KEK), { as: ADMIN, body: BODY.kek });
    const r = await h.call("GET", `/api/ledger/kek:Demo-Vault/Orders-Kek`, { as: AUDITOR });
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toMatchObject({ keyId: KEK, entries: [{ type: "KeyRegistered" }] });
  });

  it("a Key Vault event spelling the object in the vault's own case starts the rotation under the canonical keyId", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const vault = "Demo-Vault";
    const name = "Tenant-KEK";
    const event = {
      id: "case-1", topic: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${vault}`, subject: name,
      eventType: "Microsoft.KeyVault.KeyNearExpiry", eventTime: "2026-03-01T00:00:00Z", dataVersion: "1", metadataVersion: "1",
      data: { Id: `https://${vault}.vault.azure.net/keys/${name}/${v1}`, VaultName: vault, ObjectType: "Key", ObjectName: name, Version: v1, NBF: "1559081980", EXP: "1559082102" },
    };
    const r = await h.host.invokeHttp("POST", "/runtime/webhooks/eventgrid?functionName=keyVaultEvents", { headers: { "x-functions-key": h.host.eventGridWebhookKey, "aeg-event-type": "Notification", "content-type": "application/json" }, body: JSON.stringify([event]) });
    expect(r.status).toBeLessThan(300);
    const done = await h.host.client.waitForCompletion(instanceIdFor(`${keyId}@expiry:${v1}`), { timeoutMs: 60_000 });
    expect(done.runtimeStatus).toBe("Completed");
    await h.host.idle();
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "LockAcquired").map((e) => e.rotationId)).toEqual([`${keyId}@expiry:${v1}`]);
  });
});
