import { describe, expect, it } from "vitest";
import { createWrappedDek, DekResolver, Envelope, kekFromVaults } from "../../../lib/envelope";
import { DekStore } from "../../../lib/stores/dekStore";
import { useVaultPeer } from "../../support/keyVaultAdapterPeer";
import { freshTable } from "../../support/tables";

const kv = useVaultPeer();

describe("Envelope over Key Vault and Table Storage", () => {
  it("decrypts across DEK rotations and across a KEK rewrap, unwrapping through the vault only on cache misses", async () => {
    const { peer, vault } = kv;
    const kekKeyId = `kek:${peer.vaultName}/tenant-kek`;
    const kek = kekFromVaults(() => vault);
    const store = new DekStore(await freshTable("deks"));
    const v1 = (await vault.createKeyVersion("tenant-kek", { rotationId: "kek-r1" })).key.version;
    await store.addPrimary(await createWrappedDek({ tenant: "contoso", dekVersion: 1, kekKeyId, kekVersion: v1 }, kek, new Date()));
    const envelope = new Envelope(new DekResolver(store, kek, { primaryTtlMs: 0 }));
    const c1 = await envelope.encrypt("contoso", Buffer.from("under dek 1"));

    await store.addPrimary(await createWrappedDek({ tenant: "contoso", dekVersion: 2, kekKeyId, kekVersion: v1 }, kek, new Date()));
    const c2 = await envelope.encrypt("contoso", Buffer.from("under dek 2"));
    expect(c2.startsWith("kr1.contoso.2.")).toBe(true);

    // KEK rotation: new version, rewrap every DEK of the tenant, old version has no references.
    const v2 = (await vault.createKeyVersion("tenant-kek", { rotationId: "kek-r2" })).key.version;
    const unwrapsBefore = peer.admin.stats().unwrapCalls;
    const page = await store.scanRange("contoso");
    const counts = await store.rewrapBatch("contoso", page.items, { kekKeyId, kekVersion: v2 }, async (d) =>
      kek.wrap(kekKeyId, v2, await kek.unwrap(d.kekKeyId, d.kekVersion, Buffer.from(d.wrapped, "base64url"), d.alg), "RSA-OAEP-256"),
    );
    expect(counts.rewrapped).toBe(2);
    expect(peer.admin.stats().unwrapCalls - unwrapsBefore).toBe(2);
    expect(await store.countByKekVersion(kekKeyId, v1)).toBe(0);

    // A fresh consumer (empty cache) reads both ciphertexts through the rewrapped DEKs.
    const fresh = new Envelope(new DekResolver(store, kek));
    expect((await fresh.decrypt(c1)).toString()).toBe("under dek 1");
    expect((await fresh.decrypt(c2)).toString()).toBe("under dek 2");
    const beforeRepeat = peer.admin.stats().unwrapCalls;
    for (let i = 0; i < 10; i++) await fresh.decrypt(c2);
    expect(peer.admin.stats().unwrapCalls).toBe(beforeRepeat);
  });
});
