// A KEK with two versions in the Key Vault peer, DEKs wrapped under the first in a real DEK table on
// Azurite, and the rewrap's real adapters (the DEK port over the table, KeyVaultAdapter with SDK retries off).
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { TableClient } from "@azure/data-tables";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../../lib/envelope/dekRecord";
import { keyVaultRewrapVault, type RewrapDeps, type RewrapVault } from "../../../lib/orchestration/rewrap";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { DekStore } from "../../../lib/stores/dekStore";
import { KeyVaultAdapter } from "../../../lib/vault/keyVault";
import { keyClient, peerCredential, sdkOptions, startTestVault } from "../../support/keyvault";
import { freshTable } from "../../support/tables";

export const KEY = "tenant-kek";
export const entries = [
  path.resolve(__dirname, "app.ts"),
  path.resolve(__dirname, "../../../functions/rewrapOrchestrator.ts"),
  path.resolve(__dirname, "../../../functions/rewrapRange.ts"),
];

export interface Fixture {
  peer: KeyVaultPeer;
  table: TableClient;
  store: DekStore;
  adapter: KeyVaultAdapter;
  kekKeyId: string;
  v1: string;
  v2: string;
  /** tenant/dekId → plaintext, to prove every DEK still unwraps to the same bytes. */
  plaintexts: Map<string, Buffer>;
  deps(over?: Partial<RewrapDeps>): RewrapDeps;
  /** Every DEK: its KEK version, and whether it unwraps (via the peer, unthrottled) to what was seeded. */
  check(): Promise<{ byVersion: Record<string, number>; mismatches: number }>;
  stop(): Promise<void>;
}

export async function fixture(tenants: number, deksPerTenant: number): Promise<Fixture> {
  const peer = await startTestVault();
  const table = await freshTable("rewrap");
  const store = new DekStore(table);
  const kc = keyClient(peer);
  const v1 = (await kc.createRsaKey(KEY, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
  const v2 = (await kc.createRsaKey(KEY, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
  const adapter = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: { ...sdkOptions(peer), retryOptions: { maxRetries: 0 } } });
  const kekKeyId = `kek:${peer.vaultName}/${KEY}`;
  const plaintexts = new Map<string, Buffer>();
  const at = new Date().toISOString();
  for (let t = 0; t < tenants; t++) {
    const tenant = `t${String(t).padStart(3, "0")}`;
    const batch: DekRecord[] = [];
    for (let i = 1; i <= deksPerTenant; i++) {
      const plain = randomBytes(32);
      plaintexts.set(`${tenant}/${dekIdFor(i)}`, plain);
      const wrapped = await adapter.wrap(KEY, v1, plain);
      batch.push({ format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(i), dekVersion: i, kekKeyId, kekVersion: v1, alg: "RSA-OAEP-256", wrapped: wrapped.toString("base64url"), createdAt: at, state: i === 1 ? "primary" : "secondary" });
    }
    await store.putMany(batch);
  }
  return {
    peer, table, store, adapter, kekKeyId, v1, v2, plaintexts,
    deps: (over = {}) => ({
      deks: new TableDekPort(table), vaultFor: keyVaultRewrapVault(() => adapter), budgetFraction: 0.8, vaultLimitPer10s: 0,
      now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => Math.random(), ...over,
    }),
    async check() {
      peer.admin.setThrottle(false);
      const byVersion: Record<string, number> = {};
      let mismatches = 0;
      for await (const tenant of store.tenants()) {
        let continuation: string | undefined;
        do {
          const page = await store.scanRange(tenant, { ...(continuation ? { continuation } : {}) });
          for (const d of page.items) {
            byVersion[d.kekVersion] = (byVersion[d.kekVersion] ?? 0) + 1;
            const plain = await adapter.unwrap(KEY, d.kekVersion, Buffer.from(d.wrapped, "base64url"));
            if (!plain.equals(plaintexts.get(`${tenant}/${d.dekId}`) ?? Buffer.alloc(0))) mismatches++;
          }
          continuation = page.continuation;
        } while (continuation);
      }
      return { byVersion, mismatches };
    },
    stop: () => peer.stop(),
  };
}

/** A vault that runs `before` ahead of each unwrap (to interleave a concurrent writer). */
export function interceptUnwrap(vault: RewrapVault, before: (n: number) => Promise<void>): RewrapVault {
  let n = 0;
  return { ...vault, unwrap: async (version, wrapped) => { await before(n++); return vault.unwrap(version, wrapped); } };
}
