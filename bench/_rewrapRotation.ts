// The rewrap bench's measured process: the in-process durable host running the real KEK rotation
// (rotationOrchestrator → rewrapAll → rewrapOrchestrator → rewrapRange) with its SDK clients,
// against the Azurite and Key Vault peer the bench (bench/rewrap.ts) started and seeded. It holds
// nothing else — no seeding, no ceilings, no final verification scan — so its peak resident set is
// the system's. Started by the bench with `fork`, compiled to JavaScript (bench/_compile.ts); one
// `run` message in, one `result` (or `error`) message out. Named with a leading "_" so
// bench/run.ts does not list it as a bench.
import "../dev/host"; // first: installs @azure/functions-core for the host
import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AzureNamedKeyCredential, TableClient } from "@azure/data-tables";
import { startHost, type DevHost } from "../dev/host";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY } from "../dev/peers/azurite/launcher";
import type { ManagedKey } from "../lib/domain/keys";
import { ephemeralSealSigner, memoryLedger } from "../lib/ledger";
import { appHookDataFor } from "../dev/app/composition";
import { composeMemory } from "../lib/compose";
import { KeyVaultRotationAdapter } from "../lib/orchestration/deps";
import { MemoryEvents, MemoryInventory, MemoryJwks, MemoryPolicyStore } from "../lib/orchestration/memory";
import { MemoryFenceStore } from "../lib/orchestration/fence";
import { DURABLE } from "../lib/orchestration/names";
import type { RotationDeps } from "../lib/orchestration/ports";
import { keyVaultRewrapVault, RewrapOptionsSchema } from "../lib/orchestration/rewrap";
import { TableDekPort } from "../lib/orchestration/tableDeks";
import { secretGenerators } from "../lib/orchestration/secrets";
import { instanceIdFor, type RotationOutput, type RotationStatus } from "../lib/orchestration/workflows";
import { systemClock } from "../lib/ports";
import { KeyVaultAdapter } from "../lib/vault/keyVault";
import { peakRssMb, procStatus } from "./_proc";
import { rotationFunctionFiles } from "./_rewrapApp";

/** What the bench hands the measured process. */
export interface RotationRunConfig {
  azuriteUrl: string;
  dekTable: string;
  peerUrl: string;
  caPem: string;
  vaultName: string;
  keyName: string;
  kekKeyId: string;
  /** The version the DEKs are wrapped under (the key's only version). */
  version: string;
  vaultRate: number;
  budgetFraction: number;
}

export interface RotationRunResult {
  outcome: string;
  versionAfter?: string;
  error?: unknown;
  counts: unknown;
  seconds: number;
  totalSeconds: number;
  /** VmHWM of this process, MB. */
  peakRssMb: number | null;
  rewrapPeakRssMb: number;
  rewrapPeakHeapUsedMb: number;
  /** Heap in use after a full GC (only with --expose-gc), MB: what the process really holds before
   * the rotation starts and after it ended (the host still holding every instance and history). */
  liveHeapMb: { beforeRotation: number; afterRotation: number } | null;
  maxHistoryEvents: number;
  instances: number;
  /** CPU time (user + system) this process spent from the start of the rotation to its end, ms. */
  cpuMs: number;
  runtime: { execArgv: string[]; threads: number | null; tsx: boolean };
}

export type RotationMessage = { type: "result"; result: RotationRunResult } | { type: "error"; message: string };

const log = (msg: string): void => {
  process.stderr.write(`[rewrap bench] ${msg}\n`);
};

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

/** Heap in use after a full GC, MB; undefined unless node runs with --expose-gc. */
function liveHeapMb(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  gc();
  return Math.round(process.memoryUsage().heapUsed / 1048576);
}

export async function runRotation(c: RotationRunConfig): Promise<RotationRunResult> {
  const maxSlots = RewrapOptionsSchema.parse({}).maxSlots;
  const clientOptions = { tlsOptions: { ca: c.caPem }, disableChallengeResourceVerification: true as const };
  // The rewrap's adapter: SDK retries off, so every 429 reaches the pacing.
  const rewrapAdapter = new KeyVaultAdapter({ vaultName: c.vaultName, vaultUrl: c.peerUrl, credential, clientOptions: { ...clientOptions, retryOptions: { maxRetries: 0 } } });
  const rotationAdapter = new KeyVaultAdapter({ vaultName: c.vaultName, vaultUrl: c.peerUrl, credential, clientOptions });
  // One DEK port over the table for the rotation (reference counts) and the rewrap.
  const deks = new TableDekPort(new TableClient(c.azuriteUrl, c.dekTable, new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true }));

  const inventory = new MemoryInventory();
  const key: ManagedKey = { keyId: c.kekKeyId, kind: "kek", tenant: "platform", primaryVersion: c.version, versions: [{ version: c.version, state: "primary", createdAt: new Date().toISOString() }] };
  await inventory.put(key, undefined);
  const ledger = memoryLedger({ signer: ephemeralSealSigner(), clock: systemClock });
  const deps: RotationDeps = {
    vault: new KeyVaultRotationAdapter(() => rotationAdapter), inventory, deks, policies: new MemoryPolicyStore(),
    ledger, sealer: ledger, events: new MemoryEvents(), jwks: new MemoryJwks(), secrets: secretGenerators(), clock: systemClock,
    fences: new MemoryFenceStore(),
  };
  // The app's composition with the bench's adapters: the rotation over the peer and the DEK table,
  // the rewrap over its own adapter (SDK retries off) at the bench's budget.
  const app = composeMemory(undefined, {
    rotation: deps,
    rewrap: { deks, vaultFor: keyVaultRewrapVault(() => rewrapAdapter), budgetFraction: c.budgetFraction, vaultLimitPer10s: c.vaultRate * 10 },
  });

  let host: DevHost | undefined;
  try {
    host = await startHost({ entry: rotationFunctionFiles(path.extname(__filename)), appHookData: appHookDataFor(app), maxConcurrentActivities: Math.max(16, maxSlots + 4), log: () => undefined });
    const liveBefore = liveHeapMb();
    const rotationId = `${c.kekKeyId}@bench:${Date.now()}`;
    const instanceId = instanceIdFor(rotationId);
    let ourPeak = 0;
    let heapPeak = 0;
    const sampler = setInterval(() => {
      const mu = process.memoryUsage();
      ourPeak = Math.max(ourPeak, mu.rss);
      heapPeak = Math.max(heapPeak, mu.heapUsed);
    }, 200);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await host.client.startNew(DURABLE.orchestrators.rotation, {
      instanceId,
      input: { rotationId, keyId: c.kekKeyId, trigger: "manual", actor: "bench", batchSize: 1000, batchesPerEpisode: 16 },
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
        const mu = process.memoryUsage();
        log(`${((now - t0) / 1000).toFixed(1)} s phase=${cs?.phase ?? "?"}${p ? ` rewrapped=${p.rewrapped}/${p.total ?? "?"} perSec=${p.perSec ?? "?"} throttled=${p.throttled ?? 0}${p.eta ? ` eta=${p.eta}` : ""}` : ""} rss=${Math.round(mu.rss / 1048576)}MB heapUsed=${Math.round(mu.heapUsed / 1048576)}MB`);
      }
      if (st && ["Completed", "Failed", "Terminated"].includes(String(st.runtimeStatus))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    clearInterval(sampler);
    const end = performance.now();
    const cpu = process.cpuUsage(cpu0);
    rewrapEnd ??= end;
    const done = await host.client.getStatus(instanceId);
    const out = done?.output as RotationOutput | undefined;
    let maxHistoryEvents = 0;
    let instances = 0;
    for (const row of await host.store.listInstances()) {
      instances++;
      maxHistoryEvents = Math.max(maxHistoryEvents, host.maxHistoryEventCount(row.instanceId));
    }
    const peak = peakRssMb("self");
    const liveAfter = liveHeapMb();
    return {
      outcome: out?.outcome ?? String(done?.runtimeStatus),
      ...(out?.versionAfter ? { versionAfter: out.versionAfter } : {}),
      ...(out?.error ? { error: out.error } : {}),
      counts: out?.counts ?? null,
      seconds: (rewrapEnd - (rewrapStart ?? t0)) / 1000,
      totalSeconds: (end - t0) / 1000,
      peakRssMb: peak ?? null,
      rewrapPeakRssMb: Math.round(ourPeak / 1048576),
      rewrapPeakHeapUsedMb: Math.round(heapPeak / 1048576),
      liveHeapMb: liveBefore !== undefined && liveAfter !== undefined ? { beforeRotation: liveBefore, afterRotation: liveAfter } : null,
      maxHistoryEvents, instances, cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      runtime: { execArgv: process.execArgv, threads: procStatus("self", "Threads") ?? null, tsx: Object.keys(require.cache).some((k) => k.includes(`${path.sep}tsx${path.sep}`)) },
    };
  } finally {
    await host?.stop();
  }
}

// Run as the bench's child process (fork): one rotation per process.
if (require.main === module && process.send) {
  process.once("message", (m: { type: "run"; config: RotationRunConfig }) => {
    const send = (msg: RotationMessage): void => {
      process.send!(msg, () => process.exit(0));
    };
    runRotation(m.config).then(
      (result) => send({ type: "result", result }),
      (err: unknown) => send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}
