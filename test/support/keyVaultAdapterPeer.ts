// The app's KeyVaultAdapter (real @azure/keyvault-* clients) over a Key Vault peer, for tests of
// what the adapter does against a vault that answers as Azure does.
import { afterAll, beforeAll } from "vitest";
import type { KeyVaultPeer } from "../../dev/peers/keyvault";
import { KeyVaultAdapter } from "../../lib/vault/keyVault";
import { peerCredential, sdkOptions, startTestVault } from "./keyvault";

/** The adapter the app composes, pointed at `peer` (its CA trusted, the SDK's retries as in the app). */
export function peerVaultAdapter(peer: KeyVaultPeer): KeyVaultAdapter {
  return new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: sdkOptions(peer) });
}

export interface VaultPeerFixture {
  /** Set once the file's beforeAll ran. */
  readonly peer: KeyVaultPeer;
  readonly vault: KeyVaultAdapter;
}

/** Starts one peer for the calling test file (beforeAll) and stops it after its last test (afterAll). */
export function useVaultPeer(): VaultPeerFixture {
  let peer: KeyVaultPeer | undefined;
  let vault: KeyVaultAdapter | undefined;
  beforeAll(async () => {
    peer = await startTestVault();
    vault = peerVaultAdapter(peer);
  });
  afterAll(async () => {
    await peer?.stop();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("[test] the Key Vault peer is not started: use the fixture inside a test or hook");
    return v;
  };
  return {
    get peer() {
      return ready(peer);
    },
    get vault() {
      return ready(vault);
    },
  };
}
