// `npm run bench -- decrypt --tenants 2000 --ops 100000 [--branches 256] [--deks-per-tenant 1]
//   [--vault-rate R] [--concurrency C]`
// Consumer decrypts across tenants with a COLD cache (lib/envelope HierarchyDekResolver): one
// ciphertext per tenant is made first (set-up), then a fresh resolver decrypts `ops` of them in a
// random order. Each DEK resolves through its branch key: remote unwraps must not exceed the number
// of distinct branch-key versions touched, however many tenants and operations.
import { loadavg } from "node:os";
import { branchIdOf, sharedIndexFor } from "../lib/domain/branchKeys";
import { Envelope } from "../lib/envelope/envelope";
import { HierarchyDekResolver } from "../lib/envelope/hierarchyResolver";
import { forEachLimited } from "../lib/hierarchy/pace";
import { keyBits, log, missedTargets, numberOption, round, seedHierarchy, startBed, tenantName, withRssSampling } from "./_hierarchy";

const say = log("decrypt");

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const tenants = Math.max(1, numberOption(args, "tenants", 2000));
  const ops = Math.max(1, numberOption(args, "ops", 100_000));
  const branches = Math.max(1, numberOption(args, "branches", 256));
  const perTenant = Math.max(1, numberOption(args, "deks-per-tenant", 1));
  const vaultRate = numberOption(args, "vault-rate", 0);
  const concurrency = Math.max(1, numberOption(args, "concurrency", 32));
  const { key, bits } = keyBits(args);
  const bed = await startBed(bits, branches);
  try {
    await seedHierarchy(bed, tenants * perTenant, tenants, branches, say);
    const warm = new Envelope(new HierarchyDekResolver(bed.deks, bed.keys));
    const cts: string[] = [];
    await forEachLimited(Array.from({ length: tenants }, (_, t) => t), 16, async (t) => {
      cts[t] = await warm.encrypt(tenantName(t), Buffer.from(`record of ${tenantName(t)}`));
    });
    say(`${tenants} ciphertexts made`);
    if (vaultRate > 0) await bed.peer.admin("PUT", "/admin/throttle", { ratePerSecond: vaultRate });
    await bed.peer.admin("POST", "/admin/stats/reset");
    const resolver = new HierarchyDekResolver(bed.deks, bed.keys);
    const cold = new Envelope(resolver);
    const order = Array.from({ length: ops }, () => Math.floor(Math.random() * tenants));
    const touched = new Set<string>();
    let failed = 0;
    const loadBefore = loadavg().map((x) => round(x, 2));
    const started = performance.now();
    const { peakRssMb } = await withRssSampling(() => forEachLimited(order, concurrency, async (t) => {
      touched.add(branchIdOf({ kind: "shared", index: sharedIndexFor(tenantName(t), branches), count: branches }));
      const out = await cold.decrypt(cts[t]!);
      if (out.toString() !== `record of ${tenantName(t)}`) failed++;
    }));
    const seconds = (performance.now() - started) / 1000;
    const stats = await bed.stats();
    const targets = { remoteUnwrapsMax: touched.size, failedMax: 0 };
    return {
      tenants, ops, branches, key, vaultRate, seconds: round(seconds, 2), opsPerSec: Math.round(ops / seconds), failed,
      remoteUnwraps: stats.unwrapCalls, distinctBranchKeysTouched: touched.size, branchKeyLoads: resolver.branchCache.loads, peakRssMb,
      loadAverage: { before: loadBefore, after: loadavg().map((x) => round(x, 2)) },
      note: "a cold resolver reads each tenant's DEK row once per TTL and each branch-key record once per TTL; the rest is local AES-GCM",
      targets, targetsMissed: missedTargets({ remoteUnwraps: stats.unwrapCalls, failed }, targets),
    };
  } finally {
    await bed.stop();
  }
}
