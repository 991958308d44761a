// Shared set-up of the key-hierarchy benches (kek-rotation, emergency, decrypt): Azurite (own
// process), the Key Vault peer (own process, as Key Vault is remote, throttled at --vault-rate),
// a KEK and a signing key in it, B signed shared branch keys and N format-2 DEKs over T tenants.
// Seeding is set-up, not the system under test: it runs before the throttle is set and is not timed
// into any figure. Named with a leading "_" so bench/run.ts does not list it.
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AzureNamedKeyCredential, odata, TableClient, type TransactionAction } from "@azure/data-tables";
import { KeyClient } from "@azure/keyvault-keys";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY, startAzuriteTables, type AzuriteTables } from "../dev/peers/azurite/launcher";
import { branchIdOf, sharedIndexFor } from "../lib/domain/branchKeys";
import { kekFromVaults, type KekPort } from "../lib/envelope/kek";
import { dekIdFor } from "../lib/envelope/dekRecord";
import { BranchKeyStore } from "../lib/hierarchy/branchKeyStore";
import { BranchKeys } from "../lib/hierarchy/branchKeys";
import { HierarchyDekStore } from "../lib/hierarchy/dekStore";
import { unwrapDek, wrapDek } from "../lib/hierarchy/dekWrap";
import { forEachLimited } from "../lib/hierarchy/pace";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "../lib/hierarchy/records";
import { vaultSigner } from "../lib/hierarchy/signer";
import { KeyVaultAdapter } from "../lib/vault/keyVault";
import { startChildPeer, type ChildPeer } from "./_childPeer";
import { cpuMsOf } from "./_proc";

export const log = (bench: string) => (msg: string): void => {
  process.stderr.write(`[${bench} bench] ${msg}\n`);
};

export function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}
export function numberOption(args: string[], name: string, fallback: number): number {
  const v = Number(option(args, name, String(fallback)));
  if (!Number.isFinite(v) || v < 0) throw new Error(`[keyrotor] [bench] --${name} needs a non-negative number`);
  return v;
}
export function keyBits(args: string[]): { key: string; bits: number } {
  const key = option(args, "key", "rsa2048");
  const bits = ({ rsa2048: 2048, rsa3072: 3072, rsa4096: 4096 } as Record<string, number>)[key];
  if (!bits) throw new Error("[keyrotor] [bench] --key must be rsa2048, rsa3072 or rsa4096");
  return { key, bits };
}
export const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
export const tenantName = (t: number): string => `t${String(t).padStart(6, "0")}`;

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

export interface Bed {
  az: AzuriteTables;
  peer: ChildPeer;
  vaultName: string;
  vault: KeyVaultAdapter;
  kc: KeyClient;
  kek: KekPort;
  kekKeyId: string;
  kekVersion: string;
  bits: number;
  keys: BranchKeys;
  deks: HierarchyDekStore;
  table(name: string): TableClient;
  newKekVersion(): Promise<string>;
  /** The peer's counts: calls (requests, those answered 429 included) and throttledCalls per operation. */
  stats(): Promise<{ unwrapCalls: number; throttled429: number; calls: Record<string, number>; throttledCalls: Record<string, number> }>;
  stop(): Promise<void>;
}

export async function startBed(bits: number, branches: number): Promise<Bed> {
  const vaultName = "bench-vault";
  const az = await startAzuriteTables();
  const peer = await startChildPeer({ KEYVAULT_PEER_VAULT: vaultName });
  try {
    const clientOptions = { tlsOptions: { ca: peer.caPem }, disableChallengeResourceVerification: true as const };
    const kc = new KeyClient(peer.url, credential, clientOptions);
    const kekVersion = (await kc.createRsaKey("tenant-kek", { keySize: bits, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
    await kc.createRsaKey("branch-signer", { keySize: 2048, keyOps: ["sign", "verify"] });
    const vault = new KeyVaultAdapter({ vaultName, vaultUrl: peer.url, credential, clientOptions: { ...clientOptions, retryOptions: { maxRetries: 0 } } });
    const table = (name: string) => new TableClient(az.url, name, new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true });
    const kek = kekFromVaults(() => vault);
    const kekKeyId = `kek:${vaultName}/tenant-kek`;
    const keys = new BranchKeys(new BranchKeyStore(table("branchkeys")), kek, vaultSigner(`signing:${vaultName}/branch-signer`, vault), { sharedBranches: branches });
    return {
      az, peer, vaultName, vault, kc, kek, kekKeyId, kekVersion, bits, keys, deks: new HierarchyDekStore(table("branchdeks")), table,
      newKekVersion: async () => (await kc.createRsaKey("tenant-kek", { keySize: bits, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!,
      stats: async () => (await peer.admin("GET", "/admin/stats")) as { unwrapCalls: number; throttled429: number; calls: Record<string, number>; throttledCalls: Record<string, number> },
      stop: async () => {
        await peer.stop();
        await az.stop();
      },
    };
  } catch (err) {
    await peer.stop();
    await az.stop();
    throw err;
  }
}

/** B signed shared branch keys, T tenants assigned by shared index, N DEKs (format 2) spread over them;
 * the last DEK of each tenant is its primary. */
export async function seedHierarchy(bed: Bed, deks: number, tenants: number, branches: number, say: (m: string) => void): Promise<void> {
  const started = performance.now();
  const plain = new Map<string, { key: Buffer; version: number }>();
  await forEachLimited(Array.from({ length: branches }, (_, i) => i), 16, async (index) => {
    const branchId = branchIdOf({ kind: "shared", index, count: branches });
    const { record, key } = await bed.keys.create({ kekKeyId: bed.kekKeyId, kekVersion: bed.kekVersion, branchId, version: 1, state: "primary" });
    plain.set(branchId, { key: key ?? (await bed.keys.open(record)), version: record.version });
  });
  say(`${branches} branch keys signed and stored in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const createdAt = new Date().toISOString();
  let done = 0;
  await forEachLimited(Array.from({ length: tenants }, (_, t) => t), 16, async (t) => {
    const tenant = tenantName(t);
    const branchId = branchIdOf({ kind: "shared", index: sharedIndexFor(tenant, branches), count: branches });
    await bed.keys.store.assign({ tenant, kekKeyId: bed.kekKeyId, branchId });
    const b = plain.get(branchId)!;
    const count = Math.floor(deks / tenants) + (t < deks % tenants ? 1 : 0);
    const records: HierarchyDekRecord[] = [];
    for (let i = 1; i <= count; i++) {
      const dek = randomBytes(32);
      records.push({
        format: DEK_FORMAT_2, tenant, dekId: dekIdFor(i), dekVersion: i, kekKeyId: bed.kekKeyId, branchId, branchVersion: b.version, alg: "A256GCM",
        wrapped: wrapDek(b.key, dek, { tenant, dekVersion: i, kekKeyId: bed.kekKeyId, branchId, branchVersion: b.version }), createdAt, state: i === count ? "primary" : "secondary",
      });
    }
    await bed.deks.putMany(tenant, records);
    if (count > 0) await bed.deks.setPrimaryPointer(tenant, dekIdFor(count), count);
    done += count;
    if (t % 200 === 0) say(`seeded ${done}/${deks} DEKs`);
  });
  for (const b of plain.values()) b.key.fill(0);
  say(`seeded ${done} DEKs in ${tenants} tenants in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Every DEK of the KEK unwrapped under the branch key its row names (keys opened once each,
 * through the signature check), in one pass over the table (the emulator scans the whole table for
 * every query, so one query per tenant would cost tenants × rows). */
export async function checkAllDecrypt(bed: Bed): Promise<{ ok: number; failed: number; remoteUnwraps: number }> {
  const opened = new Map<string, Promise<Buffer>>();
  let ok = 0;
  let failed = 0;
  let c: string | undefined;
  do {
    const page = await bed.deks.scanKek(bed.kekKeyId, c);
    for (const d of page.items) {
      const k = `${d.branchId}#${d.branchVersion}`;
      let p = opened.get(k);
      if (!p) {
        p = bed.keys.store.get(d.kekKeyId, d.branchId, d.branchVersion).then((r) => {
          if (!r) throw new Error(`branch key ${k} missing`);
          return bed.keys.open(r);
        });
        opened.set(k, p);
      }
      try {
        unwrapDek(await p, d.wrapped, d).fill(0);
        ok++;
      } catch {
        failed++;
      }
    }
    c = page.continuation;
  } while (c);
  return { ok, failed, remoteUnwraps: opened.size };
}

/** Table batch writes/s on this Azurite: 100-entity transactions, `concurrency` at once, over
 * `partitions` partitions (the re-wrap's write pattern). */
export async function tableBatchCeiling(bed: Bed, entities: number, partitions: number, concurrency: number): Promise<number> {
  const t = bed.table(`ceiling${Date.now()}`);
  await t.createTable();
  const wrapped = randomBytes(60).toString("base64url");
  const per = Math.ceil(entities / partitions);
  const batches: { pk: string; from: number; n: number }[] = [];
  for (let p = 0; p < partitions; p++) for (let i = 0; i < per; i += 100) batches.push({ pk: `p${p}`, from: i, n: Math.min(100, per - i) });
  let written = 0;
  const started = performance.now();
  await forEachLimited(batches, concurrency, async (b) => {
    await t.submitTransaction(Array.from({ length: b.n }, (_, i): TransactionAction => ["upsert", {
      partitionKey: b.pk, rowKey: dekIdFor(b.from + i + 1), format: 2, kekKeyId: "kek:v/k", branchId: "s256-00001", branchVersion: 2, alg: "A256GCM", wrapped, state: "secondary",
    }, "Replace"]));
    written += b.n;
  });
  const perSec = written / ((performance.now() - started) / 1000);
  await t.deleteTable();
  return Math.round(perSec);
}

/** DEK rows/s of If-Match merge transactions (100 rows, one partition each, `concurrency` at once)
 * into the bench's own DEK table: the re-wrap's write pattern at the table's real size. Rows are
 * written back with the values they hold (nothing changes but their ETags), `rows` of them. */
export async function tableRewriteCeiling(bed: Bed, rows: number, concurrency: number): Promise<{ perSec: number; perAzuriteCpuSec: number }> {
  const t = bed.table("branchdeks");
  const batches: TransactionAction[][] = [];
  let current: TransactionAction[] = [];
  let pk = "";
  let taken = 0;
  for await (const e of t.listEntities<{ branchVersion: number; wrapped: string }>({ queryOptions: { filter: odata`RowKey lt ${"~"}`, select: ["PartitionKey", "RowKey", "branchVersion", "wrapped"] } })) {
    if (e.partitionKey !== pk || current.length === 100) {
      if (current.length) batches.push(current);
      current = [];
      pk = e.partitionKey ?? "";
    }
    current.push(["update", { partitionKey: pk, rowKey: e.rowKey ?? "", branchVersion: e.branchVersion, wrapped: e.wrapped }, "Merge", { etag: e.etag }]);
    if (++taken >= rows) break;
  }
  if (current.length) batches.push(current);
  let written = 0;
  const cpu0 = cpuMsOf(bed.az.pid) ?? 0;
  const started = performance.now();
  await forEachLimited(batches, concurrency, async (b) => {
    await t.submitTransaction(b);
    written += b.length;
  });
  const cpuSec = ((cpuMsOf(bed.az.pid) ?? 0) - cpu0) / 1000;
  return { perSec: Math.round(written / ((performance.now() - started) / 1000)), perAzuriteCpuSec: cpuSec > 0 ? Math.round(written / cpuSec) : 0 };
}

/** The names of the targets a run missed (`<name>Max` / `<name>Min` against the figure `<name>`). */
export function missedTargets(figures: Record<string, number>, targets: Record<string, number>): string[] {
  const missed: string[] = [];
  for (const [t, limit] of Object.entries(targets)) {
    const name = t.replace(/(Max|Min)$/, "");
    const v = figures[name];
    if (v === undefined) continue;
    if ((t.endsWith("Max") && v > limit) || (t.endsWith("Min") && v < limit)) missed.push(`${name} ${v} (target ${t.endsWith("Max") ? "≤" : "≥"} ${limit})`);
  }
  return missed;
}

/** A full garbage collection now (seeding's garbage, including the native cipher contexts its
 * wraps left for the collector, is not the measured workflow's memory). V8's gc() is exposed for
 * this one call; false where the runtime refuses. */
export function collectGarbage(): boolean {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") return false;
    (gc as () => void)();
    return true;
  } catch {
    return false; // not exposed on this runtime: the figure then includes seeding's leftovers
  }
}

/** Peak RSS of this process sampled every 100 ms while `fn` runs (MB). */
export async function withRssSampling<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssMb: Math.round(peak / 1024 / 1024) };
  } finally {
    clearInterval(timer);
  }
}
