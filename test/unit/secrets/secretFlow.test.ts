// Provider secrets through the one rotation workflow (the durable-functions replay driver over the
// memory adapters): rotate, roll back and retire with ledger entries and events, and a crash
// between the provider's regenerate and the Key Vault write that resumes without regenerating.
import { describe, expect, it } from "vitest";
import { parseSecretProvider, type SecretProviderSpec } from "../../../lib/domain/secretProviders";
import type { MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { MemoryCredentialPair } from "../../../lib/secrets/memory";
import { withSecretProviders } from "../../../lib/secrets/compose";
import { secretProviders } from "../../../lib/secrets/registry";
import { Driver } from "../orchestration/driver";
import { freshDeps, seedPolicy, T0, testPolicy, VAULT } from "../orchestration/fixtures";

const O = DURABLE.orchestrators;
const storage = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: "00000000-0000-4000-8000-000000000001", resourceGroup: "rg", account: "demostore" });

async function seedProviderSecret(deps: MemoryRotationDeps, spec: SecretProviderSpec, name: string) {
  const pair = new MemoryCredentialPair(spec);
  withSecretProviders(deps, secretProviders({ [spec.kind]: () => pair.provider() }));
  const policyId = await seedPolicy(deps, testPolicy("platform", `${name}-policy`, ["secret"], { secret: { provider: spec } }));
  const made = await deps.vault.setSecret(VAULT, name, pair.values.get("key1")!, { rotationId: "registered", slot: "key1" });
  const keyId = `secret:${VAULT}/${name}`;
  await deps.inventory.put({ keyId, kind: "secret", tenant: "platform", policyId, primaryVersion: made.version, versions: [{ version: made.version, state: "primary", createdAt: T0 }] }, undefined);
  return { keyId, v1: made.version, pair };
}

const req = (keyId: string, id: string, extra: Partial<RotationRequest> = {}): RotationRequest => ({ rotationId: `${keyId}@manual:${id}`, keyId, trigger: "manual", actor: "alice", reason: "test", ...extra });

async function ledgerOf(deps: MemoryRotationDeps, keyId: string) {
  const out = [];
  for await (const e of deps.ledger.entries(keyId)) out.push(e);
  return out;
}

describe("provider secret through the rotation workflow", () => {
  it("rotates into the slot not in use, with the slot in the ledger and events; the old credential still authenticates", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const old = pair.values.get("key1")!;
    const out = (await new Driver(deps).run(O.rotation, req(keyId, "a"))) as RotationOutput;
    expect(out).toMatchObject({ outcome: "completed", versionBefore: v1 });
    expect(pair.calls).toEqual(["regenerate:key2"]);
    expect(deps.vault.secretValue(VAULT, "storage-conn", out.versionAfter!)).toBe(pair.values.get("key2"));
    expect(pair.authenticates(old)).toBe(true);
    const entries = await ledgerOf(deps, keyId);
    expect(entries.find((e) => e.type === "VersionCreated")?.details).toMatchObject({ slot: "key2" });
    expect(entries.map((e) => e.type)).toEqual(expect.arrayContaining(["VersionCreated", "Promoted", "Completed"]));
    expect(deps.events.published.filter((e) => e.keyId === keyId).map((e) => e.type)).toEqual(expect.arrayContaining(["VersionCreated", "Promoted", "RotationCompleted"]));
    expect(JSON.stringify(entries)).not.toContain(pair.values.get("key2"));
    expect(JSON.stringify(deps.events.published)).not.toContain(pair.values.get("key2"));
  });

  it("a crash between the provider's regenerate and the Key Vault write resumes with the regenerated key: one regenerate, one version", async () => {
    const deps = freshDeps();
    const { keyId, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const realSet = deps.vault.setSecret.bind(deps.vault);
    let crashes = 1;
    deps.vault.setSecret = async (...args) => {
      if (crashes-- > 0) throw new Error("[dependencyUnavailable] Timeout: [keyrotor] [keyvault] the worker died mid-write");
      return realSet(...args);
    };
    const out = (await new Driver(deps).run(O.rotation, req(keyId, "crash"))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    expect(pair.calls).toEqual(["regenerate:key2"]);
    expect(await deps.vault.listSecretVersions(VAULT, "storage-conn")).toHaveLength(2);
    expect(deps.vault.secretValue(VAULT, "storage-conn", out.versionAfter!)).toBe(pair.values.get("key2"));
  });

  it("rolls back to the previous slot within the window; the rolled-back slot is not regenerated", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    const rotated = (await driver.run(O.rotation, req(keyId, "a"))) as RotationOutput;
    const back = (await driver.run(O.rollback, { rotationId: `${keyId}@rollback:1`, keyId, actor: "alice", reason: "consumers broke", rollbackTo: v1, rollbackFrom: rotated.versionAfter })) as RotationOutput;
    expect(back).toMatchObject({ outcome: "completed", versionBefore: rotated.versionAfter, versionAfter: v1 });
    expect((await deps.inventory.get(keyId))!.key.primaryVersion).toBe(v1);
    expect(pair.calls).toEqual(["regenerate:key2"]);
    expect((await ledgerOf(deps, keyId)).some((e) => e.type === "RolledBack")).toBe(true);
  });

  it("retirement after the overlap regenerates the old slot: the old credential stops authenticating, the new one works", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    const old = pair.values.get("key1")!;
    const rotated = (await driver.run(O.rotation, req(keyId, "a"))) as RotationOutput;
    driver.now = new Date(driver.now.getTime() + 31 * 86_400_000); // past the 30-day overlap
    const retired = (await driver.run(O.retirement, { rotationId: `${keyId}@retire:1`, keyId, actor: "system:timer", trigger: "schedule" })) as RotationOutput;
    expect(retired).toMatchObject({ outcome: "completed", counts: { retired: 1 } });
    expect(pair.calls).toEqual(["regenerate:key2", "retire:key1"]);
    expect(pair.authenticates(old)).toBe(false);
    expect(pair.authenticates(deps.vault.secretValue(VAULT, "storage-conn", rotated.versionAfter!)!)).toBe(true);
    expect((await deps.vault.listSecretVersions(VAULT, "storage-conn")).find((v) => v.version === v1)?.enabled).toBe(false);
    expect(deps.events.published.some((e) => e.keyId === keyId && e.type === "Retired")).toBe(true);
  });

  it("a second rotation while the old slot is still in its overlap fails with SlotInOverlap and regenerates nothing", async () => {
    const deps = freshDeps();
    const { keyId, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    await driver.run(O.rotation, req(keyId, "a"));
    const again = (await driver.run(O.rotation, req(keyId, "b"))) as RotationOutput;
    expect(again).toMatchObject({ outcome: "failed", error: { code: "SlotInOverlap" } });
    expect(pair.calls).toEqual(["regenerate:key2"]);
  });

  it("after a rollback, a normal rotation inside the rolled-back version's overlap is refused and ends nothing (one person may not end a credential early)", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    const rotated = (await driver.run(O.rotation, req(keyId, "a"))) as RotationOutput;
    const rolledBackValue = deps.vault.secretValue(VAULT, "storage-conn", rotated.versionAfter!)!;
    await driver.run(O.rollback, { rotationId: `${keyId}@rollback:1`, keyId, actor: "alice", reason: "consumers broke", rollbackTo: v1, rollbackFrom: rotated.versionAfter });
    driver.now = new Date(driver.now.getTime() + 3_600_000);
    const next = (await driver.run(O.rotation, req(keyId, "b"))) as RotationOutput;
    expect(next).toMatchObject({ outcome: "failed", error: { code: "SlotInOverlap" } });
    expect(pair.calls).toEqual(["regenerate:key2"]);
    expect(pair.authenticates(rolledBackValue)).toBe(true);
    expect((await deps.inventory.get(keyId))!.key.versions.find((v) => v.version === rotated.versionAfter)?.state).toBe("secondary");
    expect((await ledgerOf(deps, keyId)).some((e) => e.type === "Retired")).toBe(false);
  });

  it("after a rollback, the next normal rotation once the rolled-back version's overlap is over retires it first (its credential ends at the provider) and rotates into that slot", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    const original = pair.values.get("key1")!;
    const rotated = (await driver.run(O.rotation, req(keyId, "a"))) as RotationOutput;
    const rolledBackValue = deps.vault.secretValue(VAULT, "storage-conn", rotated.versionAfter!)!;
    await driver.run(O.rollback, { rotationId: `${keyId}@rollback:1`, keyId, actor: "alice", reason: "consumers broke", rollbackTo: v1, rollbackFrom: rotated.versionAfter });
    driver.now = new Date(driver.now.getTime() + 31 * 86_400_000); // the test policy's overlap is P30D
    const next = (await driver.run(O.rotation, req(keyId, "b"))) as RotationOutput;
    expect(next, JSON.stringify(next)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    // The rolled-back slot was ended (retire), then regenerated for the new version; key1 untouched.
    expect(pair.calls).toEqual(["regenerate:key2", "retire:key2", "regenerate:key2"]);
    expect(pair.authenticates(rolledBackValue)).toBe(false);
    expect(pair.authenticates(original)).toBe(true);
    expect(deps.vault.secretValue(VAULT, "storage-conn", next.versionAfter!)).toBe(pair.values.get("key2"));
    const versions = (await deps.inventory.get(keyId))!.key.versions;
    expect(versions.find((v) => v.version === rotated.versionAfter)?.state).toBe("retired");
    expect(versions.find((v) => v.version === v1)?.state).toBe("secondary");
    expect((await deps.vault.listSecretVersions(VAULT, "storage-conn")).find((v) => v.version === rotated.versionAfter)?.enabled).toBe(false);
    const retiredEntry = (await ledgerOf(deps, keyId)).find((e) => e.type === "Retired" && e.rotationId === `${keyId}@manual:b`);
    expect(retiredEntry).toMatchObject({ versionBefore: rotated.versionAfter, details: { slot: "key2", rolledBack: true } });
    expect(deps.events.published.some((e) => e.keyId === keyId && e.type === "Retired" && e.rotationId === `${keyId}@manual:b`)).toBe(true);
  });

  it("a version never rolled back still blocks its slot through the overlap, also when it is the untagged registered version", async () => {
    const deps = freshDeps();
    const pair = new MemoryCredentialPair(storage);
    withSecretProviders(deps, secretProviders({ storageAccountKey: () => pair.provider() }));
    const policyId = await seedPolicy(deps, testPolicy("platform", "untagged-policy", ["secret"], { secret: { provider: storage } }));
    const made = await deps.vault.setSecret(VAULT, "untagged", pair.values.get("key1")!, { rotationId: "registered" });
    const keyId = `secret:${VAULT}/untagged`;
    await deps.inventory.put({ keyId, kind: "secret", tenant: "platform", policyId, primaryVersion: made.version, versions: [{ version: made.version, state: "primary", createdAt: T0 }] }, undefined);
    const driver = new Driver(deps);
    expect(await driver.run(O.rotation, req(keyId, "a"))).toMatchObject({ outcome: "completed" });
    expect(await driver.run(O.rotation, req(keyId, "b"))).toMatchObject({ outcome: "failed", error: { code: "SlotInOverlap" } });
    expect(pair.calls).toEqual(["regenerate:key2"]);
  });

  it("the validation gate asks the provider too: a new credential the provider stopped accepting is never promoted", async () => {
    const deps = freshDeps();
    const { keyId, v1, pair } = await seedProviderSecret(deps, storage, "storage-conn");
    const driver = new Driver(deps);
    driver.beforeActivity = async (name) => {
      // Someone regenerates key2 behind keyrotor's back after it was stored and tested.
      if (name === DURABLE.activities.validateVersion) await pair.provider().retire("key2");
    };
    const out = (await driver.run(O.rotation, req(keyId, "gate"))) as RotationOutput;
    expect(out).toMatchObject({ outcome: "failed" });
    expect((await deps.inventory.get(keyId))!.key.primaryVersion).toBe(v1);
    const validation = (await ledgerOf(deps, keyId)).filter((e) => e.type === "Validation");
    expect(JSON.stringify(validation)).toContain("ProviderRejected");
  });
});
