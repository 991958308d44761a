// `npm run bench -- kek-rotation --deks N --tenants T --branches B --vault-rate R [--key rsa2048|rsa3072|rsa4096]
//   [--budget-fraction F] [--proof-sample S]`
// A KEK rotation under the key hierarchy (lib/hierarchy/workflows.ts rotateKek) against Azurite (own
// process) and the Key Vault peer (own process) throttled at R requests/s (every request counts, as
// the per-vault limit does): new KEK version, then the B branch keys re-wrapped (one remote unwrap
// each, local wrap). The DEK rows are not touched, so the figures must not depend on N.
// The gate proves a sample (--proof-sample, default 4) of the new wraps under the new version before
// any record is written: B + sample remote unwraps (target ≤ B + 10).
// Figures: remoteUnwraps (the peer's own count), dekRowsWritten (the workflow's count, and a check
// that no DEK row changed: the table's rows under the old branch-key versions are counted before and
// after), seconds (new KEK version + re-wrap), peakRssMb (this process, sampled during the rotation;
// seeding is set-up and excluded), tableBatchWritesPerSec (Azurite's ceiling, same run).
import { loadavg } from "node:os";
import { rotateKek } from "../lib/hierarchy/workflows";
import { checkAllDecrypt, keyBits, log, missedTargets, numberOption, round, seedHierarchy, startBed, tableBatchCeiling, withRssSampling } from "./_hierarchy";
import { peakRssMb } from "./_proc";

const say = log("kek-rotation");

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 20_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 200));
  const branches = Math.max(1, numberOption(args, "branches", 256));
  const vaultRate = numberOption(args, "vault-rate", 25);
  const budgetFraction = numberOption(args, "budget-fraction", 0.8);
  const proofSample = numberOption(args, "proof-sample", 4);
  const { key, bits } = keyBits(args);
  const bed = await startBed(bits, branches);
  try {
    const tableBatchWritesPerSec = await tableBatchCeiling(bed, Math.min(Math.max(deks, 5000), 20_000), Math.min(tenants, 200), 8);
    say(`Azurite batch-write ceiling ${tableBatchWritesPerSec}/s`);
    await seedHierarchy(bed, deks, tenants, branches, say);
    const before = await bed.deks.countsByBranchVersion(bed.kekKeyId);
    await bed.peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : false);
    await bed.peer.admin("POST", "/admin/stats/reset");
    const loadBefore = loadavg().map((x) => round(x, 2));
    const started = performance.now();
    const { result, peakRssMb: rss } = await withRssSampling(async () => {
      const newVersion = await bed.newKekVersion();
      return rotateKek({ keys: bed.keys, deks: bed.deks, kek: bed.kek }, { runId: `kek-rotation-${Date.now()}`, kekKeyId: bed.kekKeyId, newKekVersion: newVersion }, { ratePerSec: vaultRate * budgetFraction, concurrency: 16, proofSample });
    });
    const seconds = (performance.now() - started) / 1000;
    const loadAfter = loadavg().map((x) => round(x, 2));
    const stats = await bed.stats();
    await bed.peer.admin("PUT", "/admin/throttle", false);
    const after = await bed.deks.countsByBranchVersion(bed.kekKeyId);
    const unchanged = JSON.stringify([...before].sort()) === JSON.stringify([...after].sort());
    const underOld = await bed.keys.store.countUnder(bed.kekKeyId, bed.kekVersion);
    const check = await checkAllDecrypt(bed);
    const targets = { remoteUnwrapsMax: branches + 10, dekRowsWrittenMax: 0, decryptFailedMax: 0 };
    const figures = {
      deks, tenants, branches, key, vaultRate, budgetFraction, proofSample, outcome: result.done && underOld === 0 ? "completed" : "incomplete",
      remoteUnwraps: stats.unwrapCalls, remoteCalls: Object.values(stats.calls).reduce((s, n) => s + n, 0), throttled429: stats.throttled429,
      dekRowsWritten: result.counts.dekRowsWritten ?? 0, dekRowsUnchanged: unchanged, branchKeysRewrapped: result.counts.branchKeysRewrapped ?? 0, branchKeysValidated: result.counts.branchKeysValidated ?? 0,
      seconds: round(seconds, 2), peakRssMb: rss, processPeakRssMb: peakRssMb("self") ?? null, tableBatchWritesPerSec,
      decryptCheck: { ok: check.ok, failed: check.failed }, loadAverage: { before: loadBefore, after: loadAfter },
    };
    return {
      ...figures, targets,
      targetsMissed: [
        ...missedTargets({ remoteUnwraps: figures.remoteUnwraps, dekRowsWritten: unchanged ? figures.dekRowsWritten : Math.max(1, figures.dekRowsWritten), decryptFailed: check.failed + (deks - check.ok) }, targets),
        ...(figures.outcome === "completed" ? [] : ["outcome incomplete"]),
      ],
    };
  } finally {
    await bed.stop();
  }
}
