// The dual-credential steps against in-memory credential pairs and the memory vault: which slot a
// rotation touches, check-before-act on every step, and a crash between regenerate and store.
import { describe, expect, it } from "vitest";
import { parseSecretProvider, type SecretProviderSpec, type SlotVersion } from "../../../lib/domain/secretProviders";
import { MemoryKeyVault } from "../../../lib/orchestration/memory";
import { credentialFingerprint, DualCredentialRotation, slotVersions } from "../../../lib/secrets/dualCredential";
import { MemoryCredentialPair } from "../../../lib/secrets/memory";
import type { SecretVersionStore } from "../../../lib/secrets/port";
import { secretProviders } from "../../../lib/secrets/registry";

const SUB = "00000000-0000-4000-8000-000000000001";
const storage = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "demoacct" });
const postgres = parseSecretProvider({ kind: "postgresPassword", host: "127.0.0.1", database: "orders", logins: ["app_a", "app_b"], adminConnectionSetting: "PG_ADMIN" });
const ref = { vault: "demo-vault", name: "conn" };

function vaultStore(kv: MemoryKeyVault): SecretVersionStore {
  return {
    listSecretVersions: (v, n) => kv.listSecretVersions(v, n),
    setSecret: (v, n, value, o) => kv.setSecret(v, n, value, o),
    getSecretValue: async (v, n, version) => kv.secretValue(v, n, version) ?? "",
  };
}

function setup(spec: SecretProviderSpec) {
  const kv = new MemoryKeyVault();
  const pair = new MemoryCredentialPair(spec);
  const rotation = new DualCredentialRotation(vaultStore(kv), secretProviders({ [spec.kind]: () => pair.provider() }));
  return { kv, pair, rotation };
}

async function rotate(s: ReturnType<typeof setup>, spec: SecretProviderSpec, rotationId: string, versions: SlotVersion[], primaryVersion?: string) {
  const prepared = await s.rotation.prepare(ref, spec, { rotationId, versions, ...(primaryVersion ? { primaryVersion } : {}), emergency: false });
  return s.rotation.create(ref, spec, { rotationId, prepared });
}

describe("DualCredentialRotation (provider-issued: ARM keys)", () => {
  it("regenerates the slot not in use and stores it tagged with that slot; the slot in use keeps working", async () => {
    const s = setup(storage);
    const inUse = s.pair.values.get("key1")!;
    const made = await rotate(s, storage, "r1", []);
    expect(made).toMatchObject({ slot: "key2", reused: false, recovered: false });
    expect(s.pair.calls).toEqual(["regenerate:key2"]);
    expect(s.kv.secretValue(ref.vault, ref.name, made.version)).toBe(s.pair.values.get("key2"));
    expect((await s.kv.listSecretVersions(ref.vault, ref.name))[0]?.tags).toMatchObject({ rotationId: "r1", slot: "key2" });
    expect(s.pair.authenticates(inUse)).toBe(true);
    await expect(s.rotation.test(ref, storage, made.version)).resolves.toEqual({ ok: true });
  });

  it("alternates: the next rotation after key2 became primary regenerates key1", async () => {
    const s = setup(storage);
    const first = await rotate(s, storage, "r1", []);
    const second = await rotate(s, storage, "r2", [{ version: first.version, slot: "key2", state: "primary" }], first.version);
    expect(second.slot).toBe("key1");
    expect(s.pair.calls).toEqual(["regenerate:key2", "regenerate:key1"]);
  });

  it("a repeated create of the same rotation reuses its version and regenerates nothing", async () => {
    const s = setup(storage);
    const prepared = await s.rotation.prepare(ref, storage, { rotationId: "r1", versions: [], emergency: false });
    const a = await s.rotation.create(ref, storage, { rotationId: "r1", prepared });
    const b = await s.rotation.create(ref, storage, { rotationId: "r1", prepared });
    expect(b).toMatchObject({ version: a.version, reused: true });
    expect(s.pair.calls).toEqual(["regenerate:key2"]);
    // prepare replayed after create answers with the version already made
    expect(await s.rotation.prepare(ref, storage, { rotationId: "r1", versions: [], emergency: false })).toEqual({ slot: "key2", version: a.version });
  });

  it("a crash between regenerate and store resumes with the regenerated credential, never regenerating twice", async () => {
    const s = setup(storage);
    const prepared = await s.rotation.prepare(ref, storage, { rotationId: "r1", versions: [], emergency: false });
    expect(prepared.before).toBe(credentialFingerprint(s.pair.values.get("key2")!));
    // The first attempt regenerated key2 and died before the Key Vault write.
    const realSet = s.kv.setSecret.bind(s.kv);
    s.kv.setSecret = async () => { throw new Error("process killed"); };
    await expect(s.rotation.create(ref, storage, { rotationId: "r1", prepared })).rejects.toThrow("process killed");
    expect(s.pair.calls).toEqual(["regenerate:key2"]);
    const regenerated = s.pair.values.get("key2")!;
    s.kv.setSecret = realSet;
    const resumed = await s.rotation.create(ref, storage, { rotationId: "r1", prepared });
    expect(resumed).toMatchObject({ slot: "key2", recovered: true, reused: false });
    expect(s.pair.calls).toEqual(["regenerate:key2"]);
    expect(s.kv.secretValue(ref.vault, ref.name, resumed.version)).toBe(regenerated);
  });

  it("refuses to regenerate a slot a secondary version still hands out, unless in an emergency", async () => {
    const s = setup(storage);
    const versions: SlotVersion[] = [{ version: "v1", slot: "key1", state: "secondary" }, { version: "v2", slot: "key2", state: "primary" }];
    await expect(s.rotation.prepare(ref, storage, { rotationId: "r3", versions, primaryVersion: "v2", emergency: false })).rejects.toMatchObject({ code: "SlotInOverlap", status: 409 });
    expect(s.pair.calls).toEqual([]);
    await expect(s.rotation.prepare(ref, storage, { rotationId: "r3", versions, primaryVersion: "v2", emergency: true })).resolves.toMatchObject({ slot: "key1" });
  });

  it("after a rollback, prepare refuses the rolled-back version's slot inside its overlap, and once the overlap is over names it to retire first and fingerprints nothing (the retirement changes the slot)", async () => {
    const s = setup(storage);
    const versions: SlotVersion[] = [{ version: "v1", slot: "key1", state: "primary", createdAt: "2026-01-01T00:00:00Z" }, { version: "v2", slot: "key2", state: "secondary", createdAt: "2026-02-01T00:00:00Z" }];
    await expect(s.rotation.prepare(ref, storage, { rotationId: "r3", versions, primaryVersion: "v1", emergency: false })).rejects.toMatchObject({ code: "SlotInOverlap", status: 409 });
    expect(await s.rotation.prepare(ref, storage, { rotationId: "r3", versions, primaryVersion: "v1", emergency: false, overlapEnded: new Set(["v2"]) })).toEqual({ slot: "key2", retireFirst: ["v2"] });
    expect(s.pair.calls).toEqual([]);
  });

  it("testSecret rejects a stored value the provider no longer accepts, as a retryable fault", async () => {
    const s = setup(storage);
    const made = await rotate(s, storage, "r1", []);
    await s.pair.provider().retire("key2");
    await expect(s.rotation.test(ref, storage, made.version)).rejects.toMatchObject({ code: "CredentialRejected", family: "dependencyUnavailable" });
  });

  it("retirement regenerates the old slot, so the old credential stops authenticating", async () => {
    const s = setup(storage);
    const old = s.pair.values.get("key1")!;
    const made = await rotate(s, storage, "r1", []);
    const versions: SlotVersion[] = [{ version: "v0", slot: "key1", state: "secondary" }, { version: made.version, slot: "key2", state: "primary" }];
    expect(await s.rotation.retire(storage, versions, "v0")).toEqual({ slot: "key1" });
    expect(s.pair.authenticates(old)).toBe(false);
    expect(s.pair.authenticates(s.kv.secretValue(ref.vault, ref.name, made.version)!)).toBe(true);
  });

  it("retirement of the registered (untagged) version ends the first slot, as nextSlot assumed it holds", async () => {
    const s = setup(storage);
    expect(await s.rotation.retire(storage, [{ version: "v0", state: "secondary" }, { version: "v1", slot: "key2", state: "primary" }], "v0")).toEqual({ slot: "key1" });
    expect(s.pair.calls).toEqual(["retire:key1"]);
  });

  it("retirement leaves the provider alone when a live version shares the slot (tagged or registered)", async () => {
    const s = setup(storage);
    expect(await s.rotation.retire(storage, [{ version: "v0", state: "secondary" }, { version: "v9", state: "primary" }], "v0")).toEqual({});
    expect(await s.rotation.retire(storage, [{ version: "v0", slot: "key1", state: "secondary" }, { version: "v9", slot: "key1", state: "primary" }], "v0")).toEqual({});
    expect(s.pair.calls).toEqual([]);
  });
});

describe("DualCredentialRotation (keyrotor-issued: passwords)", () => {
  it("stores the new connection string first, then sets it on the login not in use", async () => {
    const s = setup(postgres);
    const made = await rotate(s, postgres, "r1", []);
    expect(made.slot).toBe("app_b");
    expect(s.pair.calls).toEqual(["apply:app_b"]);
    const value = s.kv.secretValue(ref.vault, ref.name, made.version)!;
    expect(value.startsWith("app_b:")).toBe(true);
    expect(s.pair.authenticates(value)).toBe(true);
  });

  it("a crash between store and set resumes by setting the stored password: no second password", async () => {
    const s = setup(postgres);
    const pair = s.pair.provider();
    if (pair.issuer !== "keyrotor") throw new Error("expected a keyrotor-issued provider");
    let crash = true;
    const rotation = new DualCredentialRotation(vaultStore(s.kv), secretProviders({
      postgresPassword: () => ({ ...pair, apply: async (slot, v) => { if (crash) throw new Error("process killed"); return pair.apply(slot, v); } }),
    }));
    const prepared = await rotation.prepare(ref, postgres, { rotationId: "r1", versions: [], emergency: false });
    await expect(rotation.create(ref, postgres, { rotationId: "r1", prepared })).rejects.toThrow("process killed");
    const stored = (await s.kv.listSecretVersions(ref.vault, ref.name))[0]!;
    crash = false;
    const resumed = await rotation.create(ref, postgres, { rotationId: "r1", prepared });
    expect(resumed).toMatchObject({ version: stored.version, reused: true });
    expect((await s.kv.listSecretVersions(ref.vault, ref.name)).length).toBe(1);
    expect(s.pair.authenticates(s.kv.secretValue(ref.vault, ref.name, stored.version)!)).toBe(true);
  });

  it("retirement disables the old login", async () => {
    const s = setup(postgres);
    const made = await rotate(s, postgres, "r1", []);
    const old = s.pair.values.get("app_a")!;
    await s.rotation.retire(postgres, [{ version: "v0", slot: "app_a", state: "secondary" }, { version: made.version, slot: "app_b", state: "primary" }], "v0");
    expect(s.pair.authenticates(old)).toBe(false);
  });
});

describe("slotVersions", () => {
  it("joins the vault's slot tags with the inventory's states", () => {
    expect(slotVersions([{ version: "a", tags: { slot: "key1" } }, { version: "b", tags: {} }], [{ version: "a", state: "secondary" }, { version: "b", state: "primary" }]))
      .toEqual([{ version: "a", slot: "key1", state: "secondary" }, { version: "b", state: "primary" }]);
  });
});

describe("secretProviders", () => {
  it("refuses a provider kind the deployment has no adapter for, with a 4xx naming the field", () => {
    expect(() => secretProviders({}).for(storage)).toThrow(expect.objectContaining({ code: "SecretProviderUnavailable", field: "secret.provider.kind" }));
  });
});
