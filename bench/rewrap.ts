// `npm run bench -- rewrap --deks N --tenants T --vault-rate R [--key rsa2048|rsa3072|rsa4096]
//   [--budget-fraction F]`
// Runs a real KEK rotation (rotationOrchestrator → rewrapAll → rewrapOrchestrator → rewrapRange)
// on the in-process durable host, against Azurite (Tables, own process) and the Key Vault peer (own
// process, as Key Vault is remote) throttled at R unwraps/s (R = 0: unthrottled). The orchestrator is
// told the vault's limit is R/s (10·R per 10 s; R = 0: no limit, unpaced) and spends F of it
// (default 0.8, the app's KEYROTOR_VAULT_BUDGET_FRACTION default).
//
// Figures:
// - seconds: the rewrapping phase (first custom status "rewrapping" → "rewrapped"), which includes
//   the zero-reference count that proves the pass; deksPerSec = deks / seconds.
// - ratioToVaultRate = deksPerSec / (F·R): the share of the rate the orchestrator may spend on the
//   vault that it achieved; ratioToPeerLimit = deksPerSec / R.
// - peakRssMb: this process (host, orchestrations, activities, SDK clients, seeding) — VmHWM;
//   the peer's and Azurite's peaks are reported apart (Azurite holds every entity in memory).
// - maxHistoryEvents: the largest history of any orchestration instance (any execution).
// - ceilings measured in the same run before the rotation: Table batch writes/s on Azurite
//   (100-entity transactions, as many at once as the rewrap's slots, over the tenants' partitions) and local unwrap+wrap/s (node:crypto, one core).
import "../dev/host"; // first: installs @azure/functions-core for the host
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AzureNamedKeyCredential, TableClient, type TransactionAction } from "@azure/data-tables";
import { KeyClient } from "@azure/keyvault-keys";
import { startHost, type DevHost } from "../dev/host";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY, startAzuriteTables, type AzuriteTables } from "../dev/peers/azurite/launcher";
import type { ManagedKey } from "../lib/domain/keys";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../lib/envelope/dekRecord";
import { ephemeralSealSigner, memoryLedger } from "../lib/ledger";
import { KeyVaultRotationAdapter, setRotationDeps } from "../lib/orchestration/deps";
import { MemoryEvents, MemoryInventory, MemoryJwks, MemoryPolicies } from "../lib/orchestration/memory";
import { DURABLE } from "../lib/orchestration/names";
import type { DekStorePort, RotationDeps } from "../lib/orchestration/ports";
import { dekStoreRewrapStore, keyVaultRewrapVault, RewrapOptionsSchema, setRewrapDeps } from "../lib/orchestration/rewrap";
import { secretGenerators } from "../lib/orchestration/secrets";
import { instanceIdFor, type RotationOutput, type RotationStatus } from "../lib/orchestration/workflows";
import { systemClock } from "../lib/ports";
import { DekStore } from "../lib/stores/dekStore";
import { KeyVaultAdapter } from "../lib/vault/keyVault";
import { startChildPeer, type ChildPeer } from "./_childPeer";

const log = (msg: string): void => {
  process.stderr.write(`[rewrap bench] ${msg}\n`);
};

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}
function numberOption(args: string[], name: string, fallback: number): number {
  const v = Number(option(args, name, String(fallback)));
  if (!Number.isFinite(v) || v < 0) throw new Error(`[keyrotor] [bench] --${name} needs a non-negative number`);
  return v;
}

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

// ---- out-of-process peers ---------------------------------------------------------------------

type PeerHandle = ChildPeer & { vaultName: string };

async function childPeer(vaultName: string): Promise<PeerHandle> {
  return { ...(await startChildPeer({ KEYVAULT_PEER_VAULT: vaultName })), vaultName };
}

/** Peak resident set (VmHWM) of a process, in MB; undefined when it cannot be read. */
function peakRssMb(pid: number | "self"): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined; // not Linux, or the process is gone: the figure is simply not reported
  }
}

/** Our child processes whose command line mentions `needle` (Azurite does not expose its pid). */
function childPids(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle)) out.push(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

// ---- ceilings ---------------------------------------------------------------------------------

async function tableBatchCeiling(az: AzuriteTables, entities: number, partitions: number, concurrency: number): Promise<number> {
  const t = new TableClient(az.url, `ceiling${Date.now()}`, new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true });
  await t.createTable();
  const wrapped = randomBytes(256).toString("base64url");
  const perPartition = Math.ceil(entities / partitions);
  const batches: { pk: string; from: number; n: number }[] = [];
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < perPartition; i += 100) batches.push({ pk: `p${p}`, from: i, n: Math.min(100, perPartition - i) });
  }
  let next = 0;
  let written = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const actions: TransactionAction[] = Array.from({ length: b.n }, (_, i) => ["upsert", {
        partitionKey: b.pk, rowKey: dekIdFor(b.from + i + 1), format: 1, kekKeyId: "kek:v/k", kekVersion: "v2", alg: "RSA-OAEP-256", wrapped, state: "secondary",
      }, "Replace"]);
      await t.submitTransaction(actions);
      written += b.n;
    }
  }));
  const perSec = written / ((performance.now() - started) / 1000);
  await t.deleteTable();
  return Math.round(perSec);
}

function localCryptoCeiling(bits: number): number {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
  let wrapped = publicEncrypt({ key: publicKey, ...oaep }, randomBytes(32));
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < 1500) {
    const plain = privateDecrypt({ key: privateKey, ...oaep }, wrapped);
    wrapped = publicEncrypt({ key: publicKey, ...oaep }, plain);
    n++;
  }
  return Math.round(n / ((performance.now() - started) / 1000));
}

// ---- seeding ----------------------------------------------------------------------------------

async function seed(store: DekStore, adapter: KeyVaultAdapter, keyName: string, kekKeyId: string, version: string, deks: number, tenants: number): Promise<void> {
  const started = performance.now();
  const createdAt = new Date().toISOString();
  let done = 0;
  let next = 0;
  const tenantOf = (t: number) => `t${String(t).padStart(5, "0")}`;
  async function* records(t: number): AsyncGenerator<DekRecord> {
    const count = Math.floor(deks / tenants) + (t < deks % tenants ? 1 : 0);
    for (let i = 0; i < count; i++) {
      const plain = randomBytes(32);
      const wrapped = await adapter.wrap(keyName, version, plain); // local, with the cached public key
      plain.fill(0);
      yield {
        format: DEK_RECORD_FORMAT, tenant: tenantOf(t), dekId: dekIdFor(i + 1), dekVersion: i + 1, kekKeyId, kekVersion: version,
        alg: "RSA-OAEP-256", wrapped: wrapped.toString("base64url"), createdAt, state: i === 0 ? "primary" : "secondary",
      };
    }
  }
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < tenants) {
      const t = next++;
      // putMany takes an iterable: materialise one tenant's page at a time (≤ a few thousand).
      const batch: DekRecord[] = [];
      for await (const r of records(t)) batch.push(r);
      const n = await store.putMany(batch);
      done += n;
      if (t % 50 === 0) log(`seeded ${done}/${deks} DEKs`);
    }
  }));
  log(`seeded ${done} DEKs in ${tenants} tenants in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** The rotation's reference count over the DEK table (the only DekStorePort call a KEK rotation makes
 * besides the rewrap, which has its own port). */
function countingDekPort(store: DekStore): DekStorePort {
  const unused = (): never => {
    throw new Error("[keyrotor] [bench] not used by a KEK rotation");
  };
  return {
    countByKekVersion: (kekKeyId) => store.countsByKekVersion(kekKeyId),
    listTenants: unused, scanRange: unused, rewrapBatch: unused, tenantDeks: unused, rotatePrimary: unused,
  };
}

const FUNCTIONS = ["rotationOrchestrator", "rewrapOrchestrator", "keyLock", ...Object.values(DURABLE.activities)]
  .map((f) => path.resolve(__dirname, "..", "functions", `${f}.ts`));

// ---- the run ----------------------------------------------------------------------------------

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 20_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 200));
  const vaultRate = numberOption(args, "vault-rate", 1000);
  const keyKind = option(args, "key", "rsa2048");
  const bits = ({ rsa2048: 2048, rsa3072: 3072, rsa4096: 4096 } as Record<string, number>)[keyKind];
  if (!bits) throw new Error("[keyrotor] [bench] --key must be rsa2048, rsa3072 or rsa4096");
  const budgetFraction = numberOption(args, "budget-fraction", 0.8);
  const maxSlots = RewrapOptionsSchema.parse({}).maxSlots; // the ceiling is measured at the rewrap's concurrency

  const az = await startAzuriteTables();
  const peer = await childPeer("bench-vault");
  let host: DevHost | undefined;
  try {
    log(`azurite ${az.url}, Key Vault peer ${peer.url} (pid ${peer.pid}); measuring ceilings`);
    const ceilingEntities = Math.min(Math.max(deks, 5000), 20_000);
    const tableBatchWritesPerSec = await tableBatchCeiling(az, ceilingEntities, Math.min(tenants, 200), maxSlots);
    const localUnwrapWrapPerSec = localCryptoCeiling(bits);
    log(`ceilings: Table batch writes ${tableBatchWritesPerSec}/s, local unwrap+wrap ${localUnwrapWrapPerSec}/s`);

    const clientOptions = { tlsOptions: { ca: peer.caPem }, disableChallengeResourceVerification: true as const };
    const keyName = "tenant-kek";
    const created = await new KeyClient(peer.url, credential, clientOptions).createRsaKey(keyName, { keySize: bits, keyOps: ["wrapKey", "unwrapKey"] });
    const v1 = created.properties.version!;
    const kekKeyId = `kek:${peer.vaultName}/${keyName}`;
    // The rewrap's adapter: SDK retries off, so every 429 reaches the pacing.
    const rewrapAdapter = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential, clientOptions: { ...clientOptions, retryOptions: { maxRetries: 0 } } });
    const rotationAdapter = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential, clientOptions });
    const dekTable = new TableClient(az.url, "deks", new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true });
    const store = new DekStore(dekTable);
    await seed(store, rewrapAdapter, keyName, kekKeyId, v1, deks, tenants);

    const inventory = new MemoryInventory();
    const key: ManagedKey = { keyId: kekKeyId, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: new Date().toISOString() }] };
    await inventory.put(key, undefined);
    const ledger = memoryLedger({ signer: ephemeralSealSigner(), clock: systemClock });
    const deps: RotationDeps = {
      vault: new KeyVaultRotationAdapter(() => rotationAdapter), inventory, deks: countingDekPort(store), policies: new MemoryPolicies(),
      ledger, sealer: ledger, events: new MemoryEvents(), jwks: new MemoryJwks(), secrets: secretGenerators(), clock: systemClock,
    };
    setRotationDeps(deps);
    setRewrapDeps({
      store: dekStoreRewrapStore(store), vaultFor: keyVaultRewrapVault(() => rewrapAdapter),
      budgetFraction, vaultLimitPer10s: vaultRate * 10,
      now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => Math.random(),
    });
    await peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : { enabled: false });
    await peer.admin("POST", "/admin/stats/reset");

    host = await startHost({ entry: FUNCTIONS, maxConcurrentActivities: Math.max(16, maxSlots + 4), log: () => undefined });
    const rotationId = `${kekKeyId}@bench:${Date.now()}`;
    const instanceId = instanceIdFor(rotationId);
    let ourPeak = 0;
    let heapPeak = 0;
    const sampler = setInterval(() => {
      const mu = process.memoryUsage();
      ourPeak = Math.max(ourPeak, mu.rss);
      heapPeak = Math.max(heapPeak, mu.heapUsed);
    }, 200);
    const t0 = performance.now();
    await host.client.startNew(DURABLE.orchestrators.rotation, {
      instanceId,
      input: { rotationId, keyId: kekKeyId, trigger: "manual", actor: "bench", batchSize: 1000, batchesPerEpisode: 16 },
    });
    let rewrapStart: number | undefined;
    let rewrapEnd: number | undefined;
    let lastLog = 0;
    for (;;) {
      const st = await host.client.getStatus(instanceId);
      const cs = st?.customStatus as RotationStatus | undefined;
      const now = performance.now();
      if (cs?.phase === "rewrapping" && rewrapStart === undefined) rewrapStart = now;
      if (rewrapStart !== undefined && rewrapEnd === undefined && cs && cs.phase !== "rewrapping") rewrapEnd = now;
      if (now - lastLog > 2000) {
        lastLog = now;
        const p = cs?.progress;
        log(`${((now - t0) / 1000).toFixed(1)} s phase=${cs?.phase ?? "?"}${p ? ` rewrapped=${p.rewrapped}/${p.total ?? "?"} perSec=${p.perSec ?? "?"} throttled=${p.throttled ?? 0}${p.eta ? ` eta=${p.eta}` : ""}` : ""} rss=${Math.round(process.memoryUsage().rss / 1048576)}MB`);
      }
      if (st && ["Completed", "Failed", "Terminated"].includes(String(st.runtimeStatus))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    clearInterval(sampler);
    const end = performance.now();
    rewrapEnd ??= end;
    const done = await host.client.getStatus(instanceId);
    const out = done?.output as RotationOutput | undefined;
    const stats = (await peer.admin("GET", "/admin/stats")) as { unwrapCalls: number; throttled429: number };
    const counts = await store.countsByKekVersion(kekKeyId);
    const underNew = out?.versionAfter ? (counts[out.versionAfter] ?? 0) : 0;
    let maxHistoryEvents = 0;
    let instances = 0;
    for (const row of await host.store.listInstances()) {
      instances++;
      maxHistoryEvents = Math.max(maxHistoryEvents, host.maxHistoryEventCount(row.instanceId));
    }
    const seconds = ((rewrapEnd - (rewrapStart ?? t0)) / 1000);
    const deksPerSec = deks / seconds;
    const budgetPerSec = vaultRate * budgetFraction;
    const azPids = childPids("azurite");
    return {
      deks, tenants, key: keyKind, outcome: out?.outcome ?? String(done?.runtimeStatus), seconds: round(seconds, 2), totalSeconds: round((end - t0) / 1000, 2),
      deksPerSec: round(deksPerSec, 1), vaultRate, budgetFraction, budgetPerSec: vaultRate > 0 ? budgetPerSec : null,
      ratioToVaultRate: vaultRate > 0 ? round(deksPerSec / budgetPerSec, 3) : null,
      ratioToPeerLimit: vaultRate > 0 ? round(deksPerSec / vaultRate, 3) : null,
      ratioDefinition: "ratioToVaultRate = deksPerSec / (budgetFraction × vaultRate): the achieved share of the rate the orchestrator may spend (vault limit told to it = vaultRate); ratioToPeerLimit = deksPerSec / vaultRate",
      throttled429: stats.throttled429, unwrapCalls: stats.unwrapCalls, throttledShare: stats.unwrapCalls > 0 ? round(stats.throttled429 / stats.unwrapCalls, 4) : 0,
      peakRssMb: peakRssMb("self"), rewrapPeakRssMb: Math.round(ourPeak / 1048576), rewrapPeakHeapUsedMb: Math.round(heapPeak / 1048576),
      maxOldSpaceMb: /--max-old-space-size=(\d+)/.exec(`${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`)?.[1] ?? null,
      peerPeakRssMb: peakRssMb(peer.pid) ?? null, azuritePeakRssMb: azPids.map((p) => peakRssMb(p)).find((x) => x !== undefined) ?? null,
      rssIncludes: "peakRssMb: this process only (durable host, orchestrations, activities, SDK clients, seeding); the Key Vault peer and Azurite run in their own processes (peerPeakRssMb, azuritePeakRssMb)",
      maxHistoryEvents, instances,
      failed: deks - underNew, counts: out?.counts ?? null, ...(out?.error ? { error: out.error } : {}),
      tableBatchWritesPerSec, localUnwrapWrapPerSec,
      ratioToTableCeiling: round(deksPerSec / tableBatchWritesPerSec, 3),
    };
  } finally {
    await host?.stop();
    setRewrapDeps(undefined);
    setRotationDeps(undefined);
    await peer.stop();
    await az.stop();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
