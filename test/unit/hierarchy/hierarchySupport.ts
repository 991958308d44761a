// A key hierarchy over real components: the Key Vault peer (RSA KEK, RSA signing key, real unwrap
// and sign over HTTPS through the SDK) and Azurite tables, one fresh table per store.
import { TableClient } from "@azure/data-tables";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { BranchKeyStore } from "../../../lib/hierarchy/branchKeyStore";
import { BranchKeys } from "../../../lib/hierarchy/branchKeys";
import { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import { vaultSigner } from "../../../lib/hierarchy/signer";
import { DekStore } from "../../../lib/stores/dekStore";
import { KeyVaultAdapter } from "../../../lib/vault/keyVault";
import { freshTable } from "../../support/tables";
import { keyClient, peerCredential, sdkOptions, startTestVault } from "../../support/keyvault";

export interface Hierarchy {
  peer: KeyVaultPeer;
  vault: KeyVaultAdapter;
  kekKeyId: string;
  kekVersion: string;
  signingKeyId: string;
  branchTable: TableClient;
  dekTable: TableClient;
  flatTable: TableClient;
  keys: BranchKeys;
  store: BranchKeyStore;
  deks: HierarchyDekStore;
  flat: DekStore;
  newKekVersion(): Promise<string>;
  /** Unwrap calls the vault answered (the peer's own count). */
  unwraps(): Promise<number>;
}

/** `sharedBranches`: how many shared branch keys the KEK gets (tenants are spread over them). */
export async function startHierarchy(opts: { sharedBranches?: number } = {}): Promise<Hierarchy> {
  const peer = await startTestVault();
  const kc = keyClient(peer);
  const kek = await kc.createRsaKey("tenant-kek", { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] });
  await kc.createRsaKey("branch-signer", { keySize: 2048, keyOps: ["sign", "verify"] });
  const vault = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: sdkOptions(peer) });
  const kekKeyId = `kek:${peer.vaultName}/tenant-kek`;
  const signingKeyId = `signing:${peer.vaultName}/branch-signer`;
  const branchTable = await freshTable("branchkeys");
  const dekTable = await freshTable("branchdeks");
  const flatTable = await freshTable("deks");
  const store = new BranchKeyStore(branchTable);
  const keys = new BranchKeys(store, kekFromVaults(() => vault), vaultSigner(signingKeyId, vault), { sharedBranches: opts.sharedBranches ?? 4 });
  return {
    peer, vault, kekKeyId, kekVersion: kek.properties.version!, signingKeyId, branchTable, dekTable, flatTable, keys, store,
    deks: new HierarchyDekStore(dekTable), flat: new DekStore(flatTable),
    newKekVersion: async () => (await kc.createRsaKey("tenant-kek", { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!,
    unwraps: () => Promise.resolve(peer.admin.stats().unwrapCalls),
  };
}

export async function stopHierarchy(h: Hierarchy | undefined): Promise<void> {
  await h?.peer.stop();
}
