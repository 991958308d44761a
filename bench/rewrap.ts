// `npm run bench -- rewrap --deks N --tenants T --vault-rate R [--key rsa2048|rsa3072|rsa4096]
//   [--budget-fraction F] [--node-flags "<V8/node flags of the measured process>"]`
// Runs a real KEK rotation (rotationOrchestrator → rewrapAll → rewrapOrchestrator → rewrapRange)
// on the in-process durable host, against Azurite (Tables, own process) and the Key Vault peer (own
// process, as Key Vault is remote) throttled at R unwraps/s (R = 0: unthrottled). The orchestrator is
// told the vault's limit is R/s (10·R per 10 s; R = 0: no limit, unpaced) and spends F of it
// (default 0.8, the app's KEYROTOR_VAULT_BUDGET_FRACTION default).
//
// Processes: this one (under tsx) is the harness — it starts Azurite and the peer, measures the
// ceilings, seeds the DEKs (setup, not the system under test) and checks the result. The rotation
// itself — host, orchestrations, activities, SDK clients — runs in its own process
// (bench/_rewrapRotation.ts), compiled to JavaScript and run by plain `node` (bench/_compile.ts):
// tsx's loader thread and transpiled sources are dev tooling, not part of what is measured.
//
// Figures:
// - seconds: the rewrapping phase (first custom status "rewrapping" → "rewrapped"), which includes
//   the zero-reference count that proves the pass; deksPerSec = deks / seconds.
// - ratioToVaultRate = deksPerSec / (F·R): the share of the rate the orchestrator may spend on the
//   vault that it achieved; ratioToPeerLimit = deksPerSec / R.
// - peakRssMb: the rotation's process (host, orchestrations, activities, SDK clients) — its VmHWM
//   over its whole life; the harness's (seeding), the peer's and Azurite's peaks are reported apart
//   (harnessPeakRssMb, peerPeakRssMb, azuritePeakRssMb; Azurite holds every entity in memory).
//   The process runs with the heap sizing V8 picks on a 1.5 GB instance (DEFAULT_NODE_FLAGS below
//   says why); liveHeapMb is its heap after a full GC before and after the rotation.
// - maxHistoryEvents: the largest history of any orchestration instance (any execution).
// - ceilings measured in the same run before the rotation: Table batch writes/s on Azurite
//   (100-entity transactions, as many at once as the rewrap's slots, over the tenants' partitions) and local unwrap+wrap/s (node:crypto, one core).
import { fork } from "node:child_process";
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";
import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AzureNamedKeyCredential, TableClient, type TransactionAction } from "@azure/data-tables";
import { KeyClient } from "@azure/keyvault-keys";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY, startAzuriteTables, type AzuriteTables } from "../dev/peers/azurite/launcher";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../lib/envelope/dekRecord";
import { RewrapOptionsSchema } from "../lib/orchestration/rewrap/types";
import { DekStore } from "../lib/stores/dekStore";
import { KeyVaultAdapter } from "../lib/vault/keyVault";
import { cpuMsOf, peakRssMb } from "./_proc";
import { startChildPeer, type ChildPeer } from "./_childPeer";
import { compileForNode, type CompiledTree } from "./_compile";
import { rotationFunctionFiles } from "./_rewrapApp";
import type { RotationMessage, RotationRunConfig, RotationRunResult } from "./_rewrapRotation";

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

// ---- seeding (setup, in this process) ---------------------------------------------------------

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

// ---- the measured process -----------------------------------------------------------------------

/** Node/V8 flags of the rotation's process (override with --node-flags).
 * - --max-old-space-size=768: the heap limit V8 itself picks on a 1.5 GB machine such as a Functions
 *   Consumption-plan instance (a quarter of the memory, ×2 on 64-bit). V8 scales how far it lets
 *   garbage pile up past the live data with that limit: on this 24 GB machine (4 GB limit) up to 4×
 *   the live set before a full GC, at 768 MB ~1.5×. The rotation's live heap is ~50–70 MB (see
 *   liveHeapMb), so that is 10× headroom, not a squeeze: measured at 20k DEKs, 1,000/s, peak RSS
 *   255 → 169 MB with ratioToVaultRate 0.926 → 0.923 (noise).
 * - --expose-gc: only so the process can report its live heap (a full GC before and after the
 *   rotation, outside the measured phase). */
const DEFAULT_NODE_FLAGS: string[] = ["--max-old-space-size=768", "--expose-gc"];

const ROTATION_ENTRY = path.resolve(__dirname, "_rewrapRotation.ts");

/** Runs the rotation in its own `node` process (compiled, without tsx) and returns what it measured.
 * Its progress lines come out on our stderr; the app's log lines (its stdout) too, so our stdout
 * keeps only the final JSON line. */
function runMeasured(tree: CompiledTree, config: RotationRunConfig, nodeFlags: string[]): Promise<RotationRunResult & { pid: number }> {
  const child = fork(tree.outPath(ROTATION_ENTRY), [], {
    execPath: process.execPath,
    execArgv: nodeFlags, // not ours: ours load tsx
    env: { ...process.env, NODE_PATH: [tree.nodePath, process.env.NODE_PATH].filter(Boolean).join(path.delimiter) },
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  child.stdout!.pipe(process.stderr, { end: false });
  return new Promise((resolve, reject) => {
    let answered = false;
    child.once("message", (m: RotationMessage) => {
      answered = true;
      if (m.type === "result") resolve({ ...m.result, pid: child.pid ?? 0 });
      else reject(new Error(`[keyrotor] [bench] the rotation process failed: ${m.message}`));
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (!answered) reject(new Error(`[keyrotor] [bench] the rotation process exited (${signal ?? code}) without a result`));
    });
    child.send({ type: "run", config });
  });
}

// ---- the run ----------------------------------------------------------------------------------

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 20_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 200));
  const vaultRate = numberOption(args, "vault-rate", 1000);
  const keyKind = option(args, "key", "rsa2048");
  const bits = ({ rsa2048: 2048, rsa3072: 3072, rsa4096: 4096 } as Record<string, number>)[keyKind];
  if (!bits) throw new Error("[keyrotor] [bench] --key must be rsa2048, rsa3072 or rsa4096");
  const budgetFraction = numberOption(args, "budget-fraction", 0.8);
  const nodeFlags = option(args, "node-flags", DEFAULT_NODE_FLAGS.join(" ")).split(/\s+/).filter(Boolean);
  const maxSlots = RewrapOptionsSchema.parse({}).maxSlots; // the ceiling is measured at the rewrap's concurrency

  // Compiling takes a few seconds: it runs while the ceilings are measured and the DEKs seeded.
  const compiling = compileForNode([ROTATION_ENTRY, ...rotationFunctionFiles(".ts")]);
  compiling.catch(() => undefined); // observed below; a failure before that must not go unhandled
  const az = await startAzuriteTables();
  const peer = await childPeer("bench-vault");
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
    const dekTable = "deks";
    const store = new DekStore(new TableClient(az.url, dekTable, new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true }));
    const seedAdapter = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential, clientOptions });
    await seed(store, seedAdapter, keyName, kekKeyId, v1, deks, tenants);

    await peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : { enabled: false });
    await peer.admin("POST", "/admin/stats/reset");
    const tree = await compiling;
    log(`rotation process: node ${nodeFlags.join(" ")} (compiled)`);
    const peerCpu0 = cpuMsOf(peer.pid);
    const azCpu0 = cpuMsOf(az.pid);
    const measured = await runMeasured(tree, {
      azuriteUrl: az.url, dekTable, peerUrl: peer.url, caPem: peer.caPem, vaultName: peer.vaultName, keyName, kekKeyId, version: v1, vaultRate, budgetFraction,
    }, nodeFlags);

    const peerCpuMs = delta(cpuMsOf(peer.pid), peerCpu0);
    const azuriteCpuMs = delta(cpuMsOf(az.pid), azCpu0);
    const stats = (await peer.admin("GET", "/admin/stats")) as { unwrapCalls: number; throttled429: number };
    const counts = await store.countsByKekVersion(kekKeyId);
    const underNew = measured.versionAfter ? (counts[measured.versionAfter] ?? 0) : 0;
    const seconds = measured.seconds;
    const deksPerSec = deks / seconds;
    const budgetPerSec = vaultRate * budgetFraction;
    return {
      deks, tenants, key: keyKind, outcome: measured.outcome, seconds: round(seconds, 2), totalSeconds: round(measured.totalSeconds, 2),
      deksPerSec: round(deksPerSec, 1), vaultRate, budgetFraction, budgetPerSec: vaultRate > 0 ? budgetPerSec : null,
      ratioToVaultRate: vaultRate > 0 ? round(deksPerSec / budgetPerSec, 3) : null,
      ratioToPeerLimit: vaultRate > 0 ? round(deksPerSec / vaultRate, 3) : null,
      ratioDefinition: "ratioToVaultRate = deksPerSec / (budgetFraction × vaultRate): the achieved share of the rate the orchestrator may spend (vault limit told to it = vaultRate); ratioToPeerLimit = deksPerSec / vaultRate",
      throttled429: stats.throttled429, unwrapCalls: stats.unwrapCalls, throttledShare: stats.unwrapCalls > 0 ? round(stats.throttled429 / stats.unwrapCalls, 4) : 0,
      peakRssMb: measured.peakRssMb, rewrapPeakRssMb: measured.rewrapPeakRssMb, rewrapPeakHeapUsedMb: measured.rewrapPeakHeapUsedMb, liveHeapMb: measured.liveHeapMb,
      nodeFlags: nodeFlags.join(" "), measuredProcess: { runtime: "node (compiled, no tsx)", ...measured.runtime },
      harnessPeakRssMb: peakRssMb("self") ?? null, peerPeakRssMb: peakRssMb(peer.pid) ?? null, azuritePeakRssMb: peakRssMb(az.pid) ?? null,
      rssIncludes: "peakRssMb: the rotation's process only, over its whole life (durable host, orchestrations, activities, SDK clients); the harness (ceilings, seeding, final check), the Key Vault peer and Azurite are reported apart (harnessPeakRssMb, peerPeakRssMb, azuritePeakRssMb)",
      maxHistoryEvents: measured.maxHistoryEvents, instances: measured.instances,
      failed: deks - underNew, counts: measured.counts, ...(measured.error ? { error: measured.error } : {}),
      tableBatchWritesPerSec, localUnwrapWrapPerSec,
      ratioToTableCeiling: round(deksPerSec / tableBatchWritesPerSec, 3),
      // Where the machine's CPU went during the rotation, per DEK: the Key Vault peer's share is work
      // that Key Vault does on its own hardware in production (RSA private-key unwrap).
      cpuMsPerDek: {
        rotation: round(measured.cpuMs / deks, 3),
        keyVaultPeer: peerCpuMs === undefined ? null : round(peerCpuMs / deks, 3),
        azurite: azuriteCpuMs === undefined ? null : round(azuriteCpuMs / deks, 3),
      },
      cpuCoresBusy: round((measured.cpuMs + (peerCpuMs ?? 0) + (azuriteCpuMs ?? 0)) / 1000 / measured.totalSeconds, 2),
    };
  } finally {
    await compiling.then((t) => t.remove(), () => undefined);
    await peer.stop();
    await az.stop();
  }
}


function delta(after: number | undefined, before: number | undefined): number | undefined {
  return after === undefined || before === undefined ? undefined : after - before;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
