// Seals signed by a Key Vault key through the real @azure/keyvault-keys clients, against the
// Key Vault peer; verification is local (cached public key) and survives a rotation of the seal key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { tableLedger } from "../../../lib/ledger";
import { keyVaultSealSigner } from "../../../lib/ledger/keyVaultSealSigner";
import { DependencyUnavailableError } from "../../../lib/domain/errors";
import { SEAL_CHAIN_ID } from "../../../lib/ports";
import { keyClient, peerCredential, sdkOptions, startTestVault } from "../../support/keyvault";
import { freshTable } from "../../support/tables";
import { step } from "../../unit/ledger/ledgerContract";

let peer: KeyVaultPeer;
beforeAll(async () => {
  peer = await startTestVault();
});
afterAll(async () => {
  await peer?.stop();
});

const signerFor = (keyId: string) => keyVaultSealSigner({ keyId, credential: peerCredential, clientOptions: sdkOptions(peer) });

describe("Key Vault seal signer", () => {
  for (const [alg, create] of [
    ["ES256", (name: string) => keyClient(peer).createEcKey(name, { curve: "P-256" })],
    ["RS256", (name: string) => keyClient(peer).createRsaKey(name, { keySize: 2048 })],
  ] as const) {
    it(`signs seals with a ${alg} key in the vault and verifies them locally with the cached public key`, async () => {
      const key = await create(`ledger-seal-${alg.toLowerCase()}`);
      const signer = await signerFor(key.id!.replace(/\/[^/]+$/, "")); // versionless: resolves the current version
      expect(signer).toMatchObject({ kid: key.id, alg });
      const ledger = tableLedger({ entries: await freshTable("ledger"), seals: await freshTable("seals"), signer });
      await ledger.append(step("kek:vault-a/k1", 1));
      await ledger.seal();
      await ledger.append(step("kek:vault-a/k1", 2));
      await ledger.seal();

      peer.admin.resetStats();
      const result = await ledger.verify();
      expect(result).toMatchObject({ ok: true, seals: 2, entries: 2 });
      expect(peer.admin.stats().calls.verify ?? 0).toBe(0);
      expect(peer.admin.stats().calls.sign ?? 0).toBe(0);
    });
  }

  it("still verifies seals signed by an earlier version after the seal key is rotated", async () => {
    const first = await keyClient(peer).createEcKey("ledger-seal-rotating", { curve: "P-256" });
    const entries = await freshTable("ledger"), seals = await freshTable("seals");
    const before = tableLedger({ entries, seals, signer: await signerFor(first.id!) });
    await before.append(step("dek:contoso", 1));
    await before.seal();

    const second = await keyClient(peer).rotateKey("ledger-seal-rotating");
    const after = tableLedger({ entries, seals, signer: await signerFor(second.id!) });
    await after.append(step("dek:contoso", 2));
    const sealed = await after.seal();
    expect(sealed.kid).toBe(second.id);
    expect(await after.verify()).toMatchObject({ ok: true, seals: 2 });
  });

  it("a seal naming a key outside the seal key's versions is a bad signature", async () => {
    const honestKey = await keyClient(peer).createEcKey("ledger-seal-honest", { curve: "P-256" });
    const otherKey = await keyClient(peer).createEcKey("ledger-seal-other", { curve: "P-256" });
    const entries = await freshTable("ledger"), seals = await freshTable("seals");
    const forger = tableLedger({ entries, seals, signer: await signerFor(otherKey.id!) });
    await forger.append(step("dek:contoso", 1));
    await forger.seal();
    const honest = tableLedger({ entries, seals, signer: await signerFor(honestKey.id!) });
    expect((await honest.verify()).firstBreak).toMatchObject({ keyId: SEAL_CHAIN_ID, seq: 1, problem: "badSealSignature" });
  });

  it("a throttled or failing vault is a transient dependency failure, a forbidden one is not; no seal is written either way", async () => {
    const key = await keyClient(peer).createEcKey("ledger-seal-faulty", { curve: "P-256" });
    const ledger = tableLedger({ entries: await freshTable("ledger"), seals: await freshTable("seals"), signer: await signerFor(key.id!) });
    await ledger.append(step("dek:contoso", 1));
    peer.admin.failNext("sign", 1, 429, { code: "Throttled", message: "VaultRequestTypeLimitReached" });
    await expect(ledger.seal()).rejects.toBeInstanceOf(DependencyUnavailableError);
    peer.admin.failNext("sign", 1, 403, { code: "Forbidden", message: "caller lacks keys/sign" });
    const forbidden = await ledger.seal().then(() => undefined, (err: unknown) => err);
    expect(forbidden).toBeInstanceOf(Error);
    expect(forbidden).not.toBeInstanceOf(DependencyUnavailableError);
    expect((forbidden as Error).message).toMatch(/^\[keyrotor\] \[ledger\] Key Vault could not sign the seal: .*caller lacks keys\/sign/);
    expect(await ledger.verify()).toMatchObject({ ok: true, seals: 0 });
  });

  it("a seal naming a version the vault does not have is a bad signature", async () => {
    const key = await keyClient(peer).createEcKey("ledger-seal-versions", { curve: "P-256" });
    const signer = await signerFor(key.id!);
    const ghost = key.id!.replace(/\/[^/]+$/, "/00000000000000000000000000000000");
    expect(await signer.verify(Buffer.alloc(32), Buffer.alloc(64), ghost, "ES256")).toBe(false);
  });
});
