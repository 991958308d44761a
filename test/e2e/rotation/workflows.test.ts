// DEK, signing-key, secret, emergency and rollback workflows on real parts: the durable host with
// history in Azurite, the Key Vault peer and the Service Bus peer, deps from settings only.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { jwksStoreFromConfig } from "../../../lib/stores/jwksStore";
import { keyClient, secretClient } from "../../support/keyvault";
import { checkDeks, drainEvents, encodings, historyText, ledgerEntries, register, seedKekWithDeks, seedVaultKey, stackSuite, TENANT, VAULT, type Stack } from "./stack";

const suite = stackSuite();

async function rotate(s: Stack, input: Record<string, unknown> & { rotationId: string; keyId: string }, orchestrator: string = DURABLE.orchestrators.rotation): Promise<RotationOutput> {
  await s.host.client.startNew(orchestrator, { instanceId: instanceIdFor(input.rotationId), input: { trigger: "manual", actor: "alice", ...input } });
  return (await s.host.client.waitForCompletion(instanceIdFor(input.rotationId), { timeoutMs: 30_000 })).output as RotationOutput;
}

describe("rotation workflows on the durable host with Azurite and the peers", () => {
  it("DEK: a tenant gets a new primary DEK wrapped under the KEK's primary; the old one stays readable as secondary", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 1, 1, "dek-kek");
    await s.policies.put({ policyId: "tenant-deks", tenant: "tenant-0", kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
    const out = await rotate(s, { rotationId: "dek:tenant-0@2026Q2", keyId: "dek:tenant-0", kekKeyId: seeded.keyId });
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionAfter: "v2" });
    const primary = await s.dekStore.getPrimary("tenant-0");
    expect(primary).toMatchObject({ dekVersion: 2, kekVersion: seeded.v1, state: "primary" });
    expect((await s.dekStore.get("tenant-0", "v00000001"))?.state).toBe("secondary");
    expect((await checkDeks(s, seeded)).mismatches).toBe(0);
    // Run again under the same rotationId: nothing new.
    await s.host.client.purge(instanceIdFor("dek:tenant-0@2026Q2"));
    expect((await rotate(s, { rotationId: "dek:tenant-0@2026Q2", keyId: "dek:tenant-0" })).versionAfter).toBe("v2");
    expect((await s.dekStore.scanRange("tenant-0")).items).toHaveLength(2);
    expect((await s.inventory.get("dek:tenant-0"))?.key.primaryVersion).toBe("v2");
  });

  it("signing key: new version published in the JWKS before it signs, the old one reduced to verify and still published", async () => {
    const s = await suite.start();
    const { keyId, v1 } = await seedVaultKey(s, suite.peers, "signing", "token-signer");
    const out = await rotate(s, { rotationId: `${keyId}@manual:1`, keyId });
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    expect((await keyClient(suite.peers.vault).getKey("token-signer", { version: v1 })).keyOperations).toEqual(["verify"]);
    const jwks = await jwksStoreFromConfig(s.cfg).get(VAULT, "token-signer");
    const kids = (jwks?.keys ?? []).map((k) => k.kid.split("/").pop());
    expect(kids.sort()).toEqual([v1, out.versionAfter].sort());
    for (const k of jwks?.keys ?? []) expect(k).not.toHaveProperty("d");
  });

  it("secret: a new version with an expiry, the old one still enabled, and the value nowhere in history, logs, events or the ledger", async () => {
    const s = await suite.start();
    const first = await secretClient(suite.peers.vault).setSecret("webhook", "initial-value-not-rotated");
    const keyId = `secret:${VAULT}/webhook`;
    await register(s, { keyId, kind: "secret", tenant: TENANT, policyId: "kek-policy", primaryVersion: first.properties.version!, versions: [{ version: first.properties.version!, state: "primary", createdAt: first.properties.createdOn!.toISOString() }] });
    const out = await rotate(s, { rotationId: `${keyId}@manual:1`, keyId });
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionBefore: first.properties.version });
    const now = await secretClient(suite.peers.vault).getSecret("webhook", { version: out.versionAfter! });
    expect(now.properties.expiresOn).toBeInstanceOf(Date);
    expect((await secretClient(suite.peers.vault).getSecret("webhook", { version: first.properties.version! })).properties.enabled).toBe(true);
    const haystack = [await historyText(s), s.logs.join("\n"), JSON.stringify(await drainEvents(s)), JSON.stringify(await ledgerEntries(s, keyId))].join("\n");
    expect(haystack).toContain(out.versionAfter!);
    expect(haystack).not.toContain(now.value!);
    for (const enc of encodings(Buffer.from(now.value!, "base64url"))) expect(haystack).not.toContain(enc);
  });

  it("emergency with revokeOld: no propagation wait, the compromised KEK version is disabled once a count proves no DEK references it", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 2, 20, "compromised-kek");
    const started = await startRotation(s.host.client, { rotationId: `${seeded.keyId}@emergency:1`, keyId: seeded.keyId, trigger: "emergency", mode: "emergency", revokeOld: true, actor: "alice", propagationDelay: "PT1H" });
    const out = (await s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 30_000 })).output as RotationOutput;
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionBefore: seeded.v1 });
    expect((await s.deps.vault.listKeyVersions(VAULT, seeded.name)).find((v) => v.version === seeded.v1)?.enabled).toBe(false);
    expect((await s.inventory.get(seeded.keyId))?.key.versions.find((v) => v.version === seeded.v1)?.state).toBe("revoked");
    const revoked = (await ledgerEntries(s, seeded.keyId)).filter((e) => e.type === "Revoked");
    expect(revoked).toHaveLength(1);
    const check = await checkDeks(s, seeded);
    expect(check.mismatches).toBe(0);
    expect([...check.versions]).toEqual([out.versionAfter]);
  });

  it("rollback within the window re-promotes the previous version and leaves the newer one enabled", async () => {
    const s = await suite.start();
    const { keyId, v1 } = await seedVaultKey(s, suite.peers, "signing", "rollback-signer");
    const rotated = await rotate(s, { rotationId: `${keyId}@manual:1`, keyId });
    expect(rotated.outcome, JSON.stringify(rotated)).toBe("completed");
    const out = await rotate(s, { rotationId: `${keyId}@rollback:1`, keyId }, DURABLE.orchestrators.rollback);
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionBefore: rotated.versionAfter, versionAfter: v1 });
    const key = (await s.inventory.get(keyId))?.key;
    expect(key?.primaryVersion).toBe(v1);
    expect(key?.versions.find((v) => v.version === rotated.versionAfter)?.state).toBe("secondary");
    const versions = await s.deps.vault.listKeyVersions(VAULT, "rollback-signer");
    expect(versions.every((v) => v.enabled)).toBe(true);
    expect((await keyClient(suite.peers.vault).getKey("rollback-signer", { version: v1 })).keyOperations?.sort()).toEqual(["sign", "verify"]);
    expect((await ledgerEntries(s, keyId)).filter((e) => e.type === "RolledBack")).toHaveLength(1);
  });
});
