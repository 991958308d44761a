// The Key Vault contract against the memory vault the workflow tests use and the real adapter
// (lib/vault through KeyVaultRotationAdapter, the real @azure/keyvault-* clients) on the Key Vault peer.
import { afterAll, beforeAll } from "vitest";
import type { KeyVaultPeer } from "../../dev/peers/keyvault";
import { KeyVaultRotationAdapter } from "../../lib/orchestration/deps";
import { MemoryKeyVault } from "../../lib/orchestration/memory";
import { KeyVaultAdapter } from "../../lib/vault/keyVault";
import { keyClient, peerCredential, sdkOptions, startTestVault } from "../support/keyvault";
import { keyVaultContract } from "./keyVaultContract";

keyVaultContract("memory", "MemoryKeyVault", async () => {
  const vault = new MemoryKeyVault();
  return { vault, vaultName: "contract-vault", seedKey: async (name, purpose) => vault.seedKey("contract-vault", name, purpose) };
});

let peer: KeyVaultPeer;
beforeAll(async () => {
  peer = await startTestVault();
});
afterAll(async () => {
  await peer?.stop();
});

keyVaultContract("real", "KeyVaultRotationAdapter (Key Vault peer)", async () => {
  const adapter = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: sdkOptions(peer) });
  const keys = keyClient(peer);
  return {
    vault: new KeyVaultRotationAdapter(() => adapter),
    vaultName: peer.vaultName,
    seedKey: async (name, purpose) => {
      const k = purpose === "wrap" ? await keys.createRsaKey(name, { keySize: 2048 }) : await keys.createEcKey(name, { curve: "P-256" });
      return k.properties.version!;
    },
  };
});
