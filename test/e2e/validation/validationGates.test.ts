// Each validation gate stops a rotation whose new version does not work. The Key Vault peer's
// broken versions (admin.breakVersion) make the new version fail or answer wrong bytes while it
// lists like any other; the rotation runs on the durable host with Azurite, the Key Vault peer
// and the Service Bus peer, through the real SDK clients. Each test proves: the rotation failed
// with ValidationFailed, the old version is still primary (or still enabled), nothing was disabled,
// the ledger holds the failed Validation entry, and RotationFailed was published with guidance.
import "../../../dev/host";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { startRotation } from "../../../lib/orchestration/start";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { secretClient } from "../../support/keyvault";
import { checkDeks, drainEvents, ledgerEntries, register, seedKekWithDeks, seedVaultKey, stackSuite, TENANT, VAULT, type Stack } from "../rotation/stack";

const suite = stackSuite();

async function rotate(s: Stack, req: Omit<RotationRequest, "trigger" | "actor"> & Partial<RotationRequest>): Promise<RotationOutput> {
  const started = await startRotation(s.host.client, { trigger: "manual", actor: "alice", ...req });
  return (await s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 })).output as RotationOutput;
}

async function expectStoppedByGate(s: Stack, keyId: string, out: RotationOutput, gate: string): Promise<void> {
  expect(out.outcome, JSON.stringify(out)).toBe("failed");
  expect(out.error?.code).toBe("ValidationFailed");
  const entries = await ledgerEntries(s, keyId);
  const validation = entries.filter((e) => e.type === "Validation").map((e) => e.details);
  expect(validation).toContainEqual(expect.objectContaining({ gate, outcome: "failed" }));
  expect(entries.map((e) => e.type)).not.toContain("Revoked");
  expect(entries.map((e) => e.type)).not.toContain("Retired");
  const failed = (await drainEvents(s)).map((e) => e.body as { type: string; keyId: string; severity: string; guidance: Record<string, unknown> })
    .filter((e) => e.type === "RotationFailed" && e.keyId === keyId);
  expect(failed).toHaveLength(1);
  expect(failed[0]!.severity).toBe("critical");
  expect(failed[0]!.guidance).toMatchObject({ decryptionValid: true, manualInterventionSafe: false, recommendedAction: expect.stringMatching(/failed validation/) as string });
}

async function enabledVersions(s: Stack, name: string): Promise<boolean[]> {
  return (await s.deps.vault.listKeyVersions(VAULT, name)).map((v) => v.enabled);
}

describe("validation gates stop a rotation whose new version does not work", () => {
  it("KEK: a new version whose vault unwrap answers wrong bytes is never promoted, every DEK stays under the old version and readable", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 2, 5, "gate-kek");
    suite.peers.vault.admin.breakVersion({ object: "key", name: "gate-kek", operations: ["unwrapKey"], mode: "corrupt" });
    const out = await rotate(s, { rotationId: `${seeded.keyId}@manual:gate1`, keyId: seeded.keyId });
    await expectStoppedByGate(s, seeded.keyId, out, "kekRoundTrip");
    expect(out.phase).toBe("versionCreated");
    expect((await s.inventory.get(seeded.keyId))?.key.primaryVersion).toBe(seeded.v1);
    expect(await enabledVersions(s, "gate-kek")).toEqual([true, true]);
    const check = await checkDeks(s, seeded);
    expect([check.mismatches, [...check.versions]]).toEqual([0, [seeded.v1]]);
  });

  it("KEK emergency: a new version that stops unwrapping after its first probe fails the DEK sample after the rewrap, and the compromised version is not revoked", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 3, 4, "late-kek");
    suite.peers.vault.admin.breakVersion({ object: "key", name: "late-kek", operations: ["unwrapKey"], afterCalls: 1, status: 400, code: "BadParameter" });
    const out = await rotate(s, { rotationId: `${seeded.keyId}@emergency:gate2`, keyId: seeded.keyId, trigger: "emergency", mode: "emergency", revokeOld: true });
    await expectStoppedByGate(s, seeded.keyId, out, "kekRewrapSample");
    expect(out.phase).toBe("rewrapping");
    expect(await enabledVersions(s, "late-kek")).toEqual([true, true]);
    const v1 = (await s.inventory.get(seeded.keyId))?.key.versions.find((v) => v.version === seeded.v1);
    expect(v1?.state).not.toBe("revoked");
  });

  it("signing key: a new version whose vault signature does not verify against the JWKS is never promoted and the old one still signs", async () => {
    const s = await suite.start();
    const { keyId, v1 } = await seedVaultKey(s, suite.peers, "signing", "gate-sig");
    suite.peers.vault.admin.breakVersion({ object: "key", name: "gate-sig", operations: ["sign"], mode: "corrupt" });
    const out = await rotate(s, { rotationId: `${keyId}@manual:gate3`, keyId });
    await expectStoppedByGate(s, keyId, out, "signingProbe");
    const key = (await s.inventory.get(keyId))?.key;
    expect(key?.primaryVersion).toBe(v1);
    const versions = await s.deps.vault.listKeyVersions(VAULT, "gate-sig");
    expect(versions.map((v) => v.enabled)).toEqual([true, true]);
    // Never narrowed to verify: the old version still signs in the vault.
    expect((await s.deps.validationVault!.sign(VAULT, "gate-sig", v1, randomBytes(16), "ES256")).length).toBe(64);
  });

  it("secret: a new value the vault will not read back is never promoted", async () => {
    const s = await suite.start();
    const made = await secretClient(suite.peers.vault).setSecret("gate-secret", randomBytes(32).toString("base64url"));
    const keyId = `secret:${VAULT}/gate-secret`;
    await register(s, { keyId, kind: "secret", tenant: TENANT, policyId: "kek-policy", primaryVersion: made.properties.version!, versions: [{ version: made.properties.version!, state: "primary", createdAt: made.properties.createdOn!.toISOString() }] });
    suite.peers.vault.admin.breakVersion({ object: "secret", name: "gate-secret", operations: ["getSecret"], status: 403, code: "Forbidden" });
    const out = await rotate(s, { rotationId: `${keyId}@manual:gate4`, keyId });
    await expectStoppedByGate(s, keyId, out, "secretReadBack");
    expect((await s.inventory.get(keyId))?.key.primaryVersion).toBe(made.properties.version);
    const versions = await s.deps.vault.listSecretVersions(VAULT, "gate-secret");
    expect(versions.map((v) => v.enabled)).toEqual([true, true]);
  });

  it("DEK: a new DEK that does not decrypt its own probe through lib/envelope (its KEK version unwraps wrongly) never becomes the tenant's primary", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 1, 2, "dek-kek");
    const tenant = "tenant-0";
    await s.policies.put({ policyId: "dek-policy", tenant, kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", rollbackWindow: "P7D" }, undefined);
    const before = await s.dekStore.getPrimary(tenant);
    suite.peers.vault.admin.breakVersion({ object: "key", name: "dek-kek", version: seeded.v1, operations: ["unwrapKey"], mode: "corrupt" });
    const out = await rotate(s, { rotationId: `dek:${tenant}@manual:gate5`, keyId: `dek:${tenant}` });
    suite.peers.vault.admin.clearFaults();
    await expectStoppedByGate(s, `dek:${tenant}`, out, "dekProbe");
    expect((await s.dekStore.getPrimary(tenant))?.dekVersion).toBe(before?.dekVersion);
    const check = await checkDeks(s, seeded);
    expect(check.mismatches).toBe(0);
  });
});

