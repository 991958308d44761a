// Registering a key of a managed vault in the inventory (PUT /api/keys/{keyId}), through the real
// functions on the host: versions from the vault, the policy attached, the ledger chain started, and
// the registered key usable by a rotation at once.
import { afterEach, describe, expect, it } from "vitest";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { ADMIN, AUDITOR, chain, OPERATOR, snapshot, startApiHost, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const KEK = `kek:${VAULT}/orders-kek`;
const path = (keyId: string) => `/api/keys/${encodeURIComponent(keyId)}`;
const policy = (policyId: string, tenant: string, kinds: string[]) => ({ policyId, tenant, kinds, schedule: { preset: "quarterly" }, expiresAfter: "P200D" });

/** A host with contoso's KEK policy and a vault key of three versions: old (disabled), then two enabled. */
async function withVaultKek(): Promise<{ h: ApiHost; versions: string[] }> {
  const host = await startApiHost();
  await host.mem.policies.put(policy("kek-quarterly", "contoso", ["kek"]), undefined);
  await host.mem.policies.put(policy("fabrikam-kek", "fabrikam", ["kek"]), undefined);
  await host.mem.policies.put(policy("contoso-signing", "contoso", ["signing"]), undefined);
  const vault = host.mem.rotation.vault;
  const versions: string[] = [];
  for (let i = 0; i < 3; i++) {
    versions.push(vault.seedKey(VAULT, "orders-kek", "wrap"));
    host.clock.advance(60_000);
  }
  await vault.updateKeyVersion(VAULT, "orders-kek", versions[0]!, { enabled: false });
  return { h: host, versions };
}

describe("registering a key", () => {
  it("registers a KEK with its vault versions and policy: 201, listed by GET /api/keys, KeyRegistered in its ledger", async () => {
    const s = await withVaultKek();
    h = s.h;
    const [v1, v2, v3] = s.versions;
    const r = await h.call("PUT", path(KEK), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    expect(r.status, r.body).toBe(201);
    expect(r.json().key).toMatchObject({
      keyId: KEK, kind: "kek", tenant: "contoso", policyId: "kek-quarterly", primaryVersion: v3,
      versions: [{ version: v1, state: "retired" }, { version: v2, state: "secondary" }, { version: v3, state: "primary" }],
    });
    expect(r.json().keyTypeChecked).toBe(true);
    const keys = (await h.call("GET", "/api/keys", { as: AUDITOR })).json().keys as { keyId: string; policyId?: string; primaryVersion?: string }[];
    expect(keys.find((k) => k.keyId === KEK)).toMatchObject({ policyId: "kek-quarterly", primaryVersion: v3 });
    const entries = await chain(h.mem, KEK);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ type: "KeyRegistered", entryId: "registered", actor: "ada", versionAfter: v3, details: { policyId: "kek-quarterly", tenant: "contoso" } });
  });

  it("accepts the keyId unencoded too (the route takes the rest of the path)", async () => {
    const s = await withVaultKek();
    h = s.h;
    const r = await h.call("PUT", `/api/keys/${KEK}`, { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    expect(r.status, r.body).toBe(201);
  });

  it("answers the same registration again with 200 and the unchanged entry, writing no second ledger entry", async () => {
    const s = await withVaultKek();
    h = s.h;
    const body = { policyId: "kek-quarterly", tenant: "contoso" };
    const first = await h.call("PUT", path(KEK), { as: ADMIN, body });
    const before = await snapshot(h.mem);
    const again = await h.call("PUT", path(KEK), { as: ["ed", "KeyRotation.Admin"], body });
    expect(again.status, again.body).toBe(200);
    expect(again.json().key).toEqual(first.json().key);
    expect(await snapshot(h.mem)).toBe(before);
    expect(await chain(h.mem, KEK)).toHaveLength(1);
  });

  it("refuses another policy for a registered key with 409 naming policyId, and changes nothing", async () => {
    const s = await withVaultKek();
    h = s.h;
    await h.mem.policies.put(policy("kek-annual", "contoso", ["kek"]), undefined);
    await h.call("PUT", path(KEK), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", path(KEK), { as: ADMIN, body: { policyId: "kek-annual", tenant: "contoso" } });
    expect(r.status).toBe(409);
    expect(r.json().error).toMatchObject({ code: "KeyAlreadyRegistered", field: "policyId" });
    expect(r.json().error.message).toMatch(/changing a key's policy/);
    expect(await snapshot(h.mem)).toBe(before);
  });

  it.each([
    ["another tenant's policy", { policyId: "fabrikam-kek", tenant: "contoso" }, "PolicyTenantMismatch"],
    ["an unknown policy", { policyId: "nope", tenant: "contoso" }, "PolicyNotFound"],
    ["a policy not covering keks", { policyId: "contoso-signing", tenant: "contoso" }, "PolicyKindMismatch"],
  ])("refuses %s with 400 naming policyId, storing nothing", async (_what, body, code) => {
    const s = await withVaultKek();
    h = s.h;
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", path(KEK), { as: ADMIN, body });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code, field: "policyId" });
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.rotation.inventory.rows.has(KEK)).toBe(false);
  });

  it("answers 404 naming keyId for a vault that is not managed or an object the vault does not have", async () => {
    const s = await withVaultKek();
    h = s.h;
    const before = await snapshot(h.mem);
    for (const [keyId, code] of [["kek:foreign-vault/orders-kek", "VaultNotManaged"], [`kek:${VAULT}/nope`, "VaultObjectNotFound"], [`secret:${VAULT}/nope`, "VaultObjectNotFound"]] as const) {
      const r = await h.call("PUT", path(keyId), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
      expect(r.status, keyId).toBe(404);
      expect(r.json().error).toMatchObject({ code, field: "keyId" });
    }
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("refuses a tenant DEK with 400: DEKs are onboarded by a DEK rotation naming its KEK", async () => {
    const s = await withVaultKek();
    h = s.h;
    const r = await h.call("PUT", path("dek:contoso"), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: "DekNotRegistrable", field: "keyId" });
    expect(r.json().error.message).toMatch(/DEK rotation naming its KEK/);
  });

  it("refuses an EC key as a KEK (it cannot wrap), naming keyId", async () => {
    const s = await withVaultKek();
    h = s.h;
    h.mem.rotation.vault.seedKey(VAULT, "ec-key", "sign");
    const r = await h.call("PUT", path(`kek:${VAULT}/ec-key`), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: "KekNotRsa", field: "keyId" });
    expect(h.mem.rotation.inventory.rows.has(`kek:${VAULT}/ec-key`)).toBe(false);
  });

  it("refuses unknown or missing body fields with 400 naming the field", async () => {
    const s = await withVaultKek();
    h = s.h;
    const before = await snapshot(h.mem);
    const cases: [unknown, string][] = [
      [{ policyId: "kek-quarterly", tenant: "contoso", versions: [] }, "versions"],
      [{ policyId: "kek-quarterly" }, "tenant"],
      [{ policyId: "bad id!", tenant: "contoso" }, "policyId"],
    ];
    for (const [body, field] of cases) {
      const r = await h.call("PUT", path(KEK), { as: ADMIN, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json().error.field).toBe(field);
    }
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("registers a signing key under a signing policy", async () => {
    const s = await withVaultKek();
    h = s.h;
    const v = h.mem.rotation.vault.seedKey(VAULT, "token-signer", "sign");
    const r = await h.call("PUT", path(`signing:${VAULT}/token-signer`), { as: ADMIN, body: { policyId: "contoso-signing", tenant: "contoso" } });
    expect(r.status, r.body).toBe(201);
    expect(r.json().key).toMatchObject({ kind: "signing", primaryVersion: v, versions: [{ version: v, state: "primary" }] });
  });

  it("makes the key usable at once: a manual rotation of the registered KEK completes", async () => {
    const s = await withVaultKek();
    h = s.h;
    await h.call("PUT", path(KEK), { as: ADMIN, body: { policyId: "kek-quarterly", tenant: "contoso" } });
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId: KEK, reason: "first rotation after registration", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(r.json().rotationId))).runtimeStatus).toBe("Completed");
    const row = await h.mem.rotation.inventory.get(KEK);
    expect(row?.key.primaryVersion).not.toBe(s.versions[2]);
    expect(row?.key.versions.find((v) => v.version === s.versions[2])?.state).toBe("secondary");
    expect((await chain(h.mem, KEK))[0]?.type).toBe("KeyRegistered");
  });
});
