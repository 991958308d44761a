// `npm run bench -- emergency --deks 200000 --tenants 2000 --branches 256 --vault-rate 25 [--key rsa4096]
//   [--budget-fraction F] [--partitions P]`
// The whole emergency for a compromised KEK version under the key hierarchy, from approval to the
// compromised version revoked (lib/hierarchy/workflows.ts emergency): new KEK version (remote
// create), B new branch-key versions under it (local wrap, one remote sign each), one remote unwrap
// per old branch key, every DEK re-wrapped locally (Table transactions of 100, If-Match), the
// count, old branch-key records destroyed, the zero-reference count for the KEK version, revoke.
// Against Azurite and the Key Vault peer, each in its own process, the peer throttled at R
// requests/s (every request counts). 25/s is the RSA-4096 HSM key limit (250 per 10 s).
// Figures: seconds (approval → revoked), remoteUnwraps (the peer's count), dekRowsWritten,
// rewrapDeksPerSec (the DEK re-wrap step alone) against tableBatchWritesPerSec (Azurite's
// batch-write ceiling measured in the same run, same write pattern), peakRssMb (this process,
// sampled during the emergency; seeding excluded), and every DEK checked to decrypt afterwards.
import { emergency } from "../lib/hierarchy/workflows";
import { checkAllDecrypt, keyBits, log, numberOption, round, seedHierarchy, startBed, tableBatchCeiling, withRssSampling } from "./_hierarchy";
import { peakRssMb } from "./_proc";

const say = log("emergency");

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 200_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 2000));
  const branches = Math.max(1, numberOption(args, "branches", 256));
  const vaultRate = numberOption(args, "vault-rate", 25);
  const budgetFraction = numberOption(args, "budget-fraction", 0.8);
  const partitions = Math.max(1, numberOption(args, "partitions", 8));
  const { key, bits } = keyBits(args);
  const bed = await startBed(bits, branches);
  try {
    const tableBatchWritesPerSec = await tableBatchCeiling(bed, 20_000, Math.min(tenants, 200), partitions);
    say(`Azurite batch-write ceiling ${tableBatchWritesPerSec}/s`);
    await seedHierarchy(bed, deks, tenants, branches, say);
    await bed.peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : false);
    await bed.peer.admin("POST", "/admin/stats/reset");
    const stepAt = new Map<string, number>();
    let revokedAt = 0;
    const started = performance.now();
    const { result, peakRssMb: rss } = await withRssSampling(async () => {
      const newVersion = await bed.newKekVersion();
      return emergency({
        keys: bed.keys, deks: bed.deks, kek: bed.kek,
        revokeKekVersion: async (_k, v) => {
          await bed.vault.updateVersion("tenant-kek", v, { enabled: false });
          revokedAt = performance.now();
        },
        onStep: async (_run, step) => {
          stepAt.set(step, performance.now());
          say(`step ${step} done at ${((performance.now() - started) / 1000).toFixed(1)} s`);
        },
      }, { runId: `emergency-${Date.now()}`, kekKeyId: bed.kekKeyId, compromisedVersion: bed.kekVersion, newKekVersion: newVersion }, { ratePerSec: vaultRate * budgetFraction, concurrency: 16, partitions });
    });
    const seconds = ((revokedAt || performance.now()) - started) / 1000;
    const stats = await bed.stats();
    await bed.peer.admin("PUT", "/admin/throttle", false);
    const rewrapSeconds = ((stepAt.get("rewrap") ?? 0) - (stepAt.get("create") ?? 0)) / 1000;
    const written = result.counts.dekRowsWritten ?? 0;
    const rewrapDeksPerSec = rewrapSeconds > 0 ? written / rewrapSeconds : 0;
    const check = await checkAllDecrypt(bed);
    const kekAfter = await bed.vault.getKey("tenant-kek", bed.kekVersion);
    return {
      deks, tenants, branches, key, vaultRate, budgetFraction, partitions, outcome: result.outcome ?? "incomplete", compromisedVersionEnabled: kekAfter.enabled,
      seconds: round(seconds, 2), remoteUnwraps: stats.unwrapCalls, remoteSigns: stats.calls.sign ?? 0, remoteCalls: Object.values(stats.calls).reduce((s, n) => s + n, 0), throttled429: stats.throttled429,
      dekRowsWritten: written, rewrapSeconds: round(rewrapSeconds, 2), rewrapDeksPerSec: Math.round(rewrapDeksPerSec), tableBatchWritesPerSec,
      ratioToTableCeiling: round(rewrapDeksPerSec / tableBatchWritesPerSec, 3),
      stepSeconds: Object.fromEntries([...stepAt].map(([k, v]) => [k, round((v - started) / 1000, 2)])),
      peakRssMb: rss, processPeakRssMb: peakRssMb("self") ?? null, azuritePeakRssMb: peakRssMb(bed.az.pid) ?? null,
      rssIncludes: "peakRssMb: this process sampled every 100 ms during the emergency (the workflow, SDK clients); processPeakRssMb also covers seeding and the final check",
      decryptCheck: { ok: check.ok, failed: check.failed, branchKeysOpened: check.remoteUnwraps },
      counts: result.counts,
      targets: { secondsMax: 300, remoteUnwrapsMax: 2 * branches + 10, // old opens + validation gate: 2 per branch key
        ratioToTableCeilingMin: 0.5, peakRssMbMax: 256 },
    };
  } finally {
    await bed.stop();
  }
}
