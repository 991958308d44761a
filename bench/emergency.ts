// `npm run bench -- emergency --deks 200000 --tenants 2000 --branches 256 --vault-rate 25 [--key rsa4096]
//   [--budget-fraction F] [--partitions P] [--proof-sample S] [--new-dek-versions]`
// The whole emergency for a compromised KEK version under the key hierarchy, from approval to the
// compromised version revoked (lib/hierarchy/workflows.ts emergency): new KEK version (remote
// create), B new branch-key versions under it (local wrap, one remote sign each), a sample of them
// proven by a remote unwrap under it (the gate), one remote unwrap per old branch key, every DEK
// re-wrapped locally (Table transactions of 100, If-Match), the leftover count, old branch-key
// records destroyed, the zero-reference count for the KEK version, revoke.
// Against Azurite and the Key Vault peer, each in its own process, the peer throttled at R
// requests/s (every request counts). 25/s is the RSA-4096 HSM key limit (250 per 10 s).
// Figures: seconds (approval → revoked), remoteUnwraps (the peer's count), dekRowsWritten,
// rewrapDeksPerSec (first DEK write → last: the local re-wrap alone) against Azurite's batch-write
// ceiling measured in the same run two ways: tableBatchWritesPerSec (If-Match merge transactions of
// 100 into the 200k-row DEK table itself, after the emergency: the same write pattern at the same
// table size, nothing else running) and emptyTableBatchWritesPerSec (100-entity upserts into an
// empty table before seeding: the emulator's best case, since its store maintains two sorted
// indexes per write, which costs more the more rows the table holds); CPU seconds of Azurite and
// of this process during the emergency; peakRssMb (this process, sampled during the emergency;
// seeding excluded); every DEK checked to decrypt afterwards; the load average beside it all.
import { loadavg } from "node:os";
import type { Rewrite } from "../lib/hierarchy/dekStore";
import { emergency } from "../lib/hierarchy/workflows";
import { checkAllDecrypt, collectGarbage, keyBits, log, missedTargets, numberOption, round, seedHierarchy, startBed, tableBatchCeiling, tableRewriteCeiling, withRssSampling } from "./_hierarchy";
import { cpuMsOf, peakRssMb } from "./_proc";

const say = log("emergency");

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 200_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 2000));
  const branches = Math.max(1, numberOption(args, "branches", 256));
  const vaultRate = numberOption(args, "vault-rate", 25);
  const budgetFraction = numberOption(args, "budget-fraction", 0.8);
  const partitions = Math.max(1, numberOption(args, "partitions", 8));
  const proofSample = numberOption(args, "proof-sample", 4);
  const newDekVersions = args.includes("--new-dek-versions");
  const { key, bits } = keyBits(args);
  const bed = await startBed(bits, branches);
  try {
    const emptyTableBatchWritesPerSec = await tableBatchCeiling(bed, 20_000, Math.min(tenants, 200), partitions);
    say(`Azurite batch-write ceiling into an empty table ${emptyTableBatchWritesPerSec}/s`);
    await seedHierarchy(bed, deks, tenants, branches, say);
    await bed.peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : false);
    await bed.peer.admin("POST", "/admin/stats/reset");
    // The re-wrap's own span: first DEK transaction sent → last one answered.
    let firstWrite = 0;
    let lastWrite = 0;
    let azCpuFirst = 0;
    let azCpuLast = 0;
    const deksTimed = Object.create(bed.deks) as typeof bed.deks;
    deksTimed.rewrite = async (tenant: string, rewrites: readonly Rewrite[]) => {
      if (!firstWrite) {
        firstWrite = performance.now();
        azCpuFirst = cpuMsOf(bed.az.pid) ?? 0;
      }
      const n = await bed.deks.rewrite(tenant, rewrites);
      lastWrite = performance.now();
      azCpuLast = cpuMsOf(bed.az.pid) ?? 0;
      return n;
    };
    const gcBeforeRun = collectGarbage();
    const rssBeforeMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
    const stepAt = new Map<string, number>();
    let revokedAt = 0;
    const loadBefore = loadavg().map((x) => round(x, 2));
    const azCpu0 = cpuMsOf(bed.az.pid) ?? 0;
    let azCpuAtValidate = azCpu0;
    const ownCpu0 = process.cpuUsage();
    const started = performance.now();
    const { result, peakRssMb: rss } = await withRssSampling(async () => {
      const newVersion = await bed.newKekVersion();
      return emergency({
        keys: bed.keys, deks: deksTimed, kek: bed.kek,
        revokeKekVersion: async (_k, v) => {
          await bed.vault.updateVersion("tenant-kek", v, { enabled: false });
          revokedAt = performance.now();
        },
        onStep: async (_run, step) => {
          stepAt.set(step, performance.now());
          if (step === "validate") azCpuAtValidate = cpuMsOf(bed.az.pid) ?? 0;
          say(`step ${step} done at ${((performance.now() - started) / 1000).toFixed(1)} s`);
        },
      }, { runId: `emergency-${Date.now()}`, kekKeyId: bed.kekKeyId, compromisedVersion: bed.kekVersion, newKekVersion: newVersion, newDekVersions }, { ratePerSec: vaultRate * budgetFraction, concurrency: 16, partitions, proofSample });
    });
    const seconds = ((revokedAt || performance.now()) - started) / 1000;
    const ownCpu = process.cpuUsage(ownCpu0);
    const azCpuEnd = cpuMsOf(bed.az.pid) ?? 0;
    const azuriteCpuSeconds = (azCpuEnd - azCpu0) / 1000;
    const loadAfter = loadavg().map((x) => round(x, 2));
    const stats = await bed.stats();
    await bed.peer.admin("PUT", "/admin/throttle", false);
    const rewrapSeconds = (lastWrite - firstWrite) / 1000;
    const written = result.counts.dekRowsWritten ?? 0;
    const rewrapDeksPerSec = rewrapSeconds > 0 ? written / rewrapSeconds : 0;
    const check = await checkAllDecrypt(bed);
    const kekAfter = await bed.vault.getKey("tenant-kek", bed.kekVersion);
    const ceiling = await tableRewriteCeiling(bed, 20_000, partitions);
    const tableBatchWritesPerSec = ceiling.perSec;
    say(`Azurite If-Match merge ceiling on the ${deks}-row DEK table ${tableBatchWritesPerSec}/s (${ceiling.perAzuriteCpuSec} rows per Azurite CPU second)`);
    const rewrapAzuriteCpuSeconds = (azCpuLast - azCpuFirst) / 1000;
    const rewrapRowsPerAzuriteCpuSec = rewrapAzuriteCpuSeconds > 0 ? Math.round(written / rewrapAzuriteCpuSeconds) : 0;
    const vaultBoundSeconds = ((stepAt.get("validate") ?? 0) - started) / 1000;
    const figures = {
      deks, tenants, branches, key, vaultRate, budgetFraction, partitions, proofSample, newDekVersions, outcome: result.outcome ?? "incomplete", compromisedVersionEnabled: kekAfter.enabled,
      seconds: round(seconds, 2), remoteUnwraps: stats.unwrapCalls, remoteSigns: stats.calls.sign ?? 0, remoteCalls: Object.values(stats.calls).reduce((s, n) => s + n, 0), throttled429: stats.throttled429,
      dekRowsWritten: written, dekVersionsCreated: result.counts.dekVersionsCreated ?? 0, rewrapSeconds: round(rewrapSeconds, 2), rewrapDeksPerSec: Math.round(rewrapDeksPerSec),
      tableBatchWritesPerSec, ratioToTableCeiling: round(rewrapDeksPerSec / tableBatchWritesPerSec, 3),
      emptyTableBatchWritesPerSec, ratioToEmptyTableCeiling: round(rewrapDeksPerSec / emptyTableBatchWritesPerSec, 3),
      rewrapAzuriteCpuSeconds: round(rewrapAzuriteCpuSeconds, 1), rewrapRowsPerAzuriteCpuSec, ceilingRowsPerAzuriteCpuSec: ceiling.perAzuriteCpuSec,
      cpuRatioToTableCeiling: ceiling.perAzuriteCpuSec > 0 ? round(rewrapRowsPerAzuriteCpuSec / ceiling.perAzuriteCpuSec, 3) : null,
      // What the run would take with a core of its own for Azurite: the vault-bound start (new KEK
      // version, signs, gate) plus Azurite's CPU time after it.
      secondsWithOneFreeCore: round(vaultBoundSeconds + (azCpuEnd - azCpuAtValidate) / 1000, 1),
      azuriteCpuSeconds: round(azuriteCpuSeconds, 1), benchCpuSeconds: round((ownCpu.user + ownCpu.system) / 1e6, 1),
      azuriteCoreShare: round(azuriteCpuSeconds / seconds, 2),
      stepSeconds: Object.fromEntries([...stepAt].map(([k, v]) => [k, round((v - started) / 1000, 2)])),
      peakRssMb: rss, rssBeforeMb, gcBeforeRun, processPeakRssMb: peakRssMb("self") ?? null, azuritePeakRssMb: peakRssMb(bed.az.pid) ?? null,
      rssIncludes: "peakRssMb: this process sampled every 100 ms during the emergency (the workflow, SDK clients); processPeakRssMb also covers seeding and the final check",
      decryptCheck: { ok: check.ok, failed: check.failed, branchKeysOpened: check.remoteUnwraps },
      loadAverage: { before: loadBefore, after: loadAfter },
      counts: result.counts,
    };
    const targets = { secondsMax: 300, remoteUnwrapsMax: branches + 10, ratioToTableCeilingMin: 0.5, peakRssMbMax: 256, decryptFailedMax: 0 };
    return {
      ...figures, targets,
      targetsMissed: missedTargets({ seconds: figures.seconds, remoteUnwraps: figures.remoteUnwraps, ratioToTableCeiling: figures.ratioToTableCeiling, peakRssMb: rss, decryptFailed: check.failed + (deks - check.ok) }, targets),
    };
  } finally {
    await bed.stop();
  }
}
