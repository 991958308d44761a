// `npm run bench -- planner [--keys 100000] [--runs 5] [--tenants 2000]`: plans a realistic
// inventory (DEKs per tenant, KEKs, signing keys and many secrets; presets, cron schedules in
// several time zones, maintenance windows, year-end freezes, suspended and missing policies) and
// reports keys planned per second. Each run is a full plan() call, policy compilation included.
import { loadavg } from "node:os";
import type { KeyKind, ManagedKey } from "../lib/domain/keys";
import { validatePolicy, type Policy } from "../lib/domain/policy";
import { plan } from "../lib/domain/planner";

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

/** Deterministic PRNG (mulberry32): the same inventory every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONES = ["UTC", "Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles"];

/** Policy templates by name: what a tenant's admin would set up. */
function templates(r: () => number): Record<string, Record<string, unknown>> {
  const tz = ZONES[Math.floor(r() * ZONES.length)]!;
  const freezes = r() < 0.5 ? [{ from: "2026-12-18", to: "2027-01-04", reason: "year-end change freeze" }] : [];
  const windows = r() < 0.4 ? [{ cron: "0 22 * * 6", timeZone: tz, duration: "PT6H" }, { cron: "0 2 * * 0", timeZone: tz, duration: "PT4H" }] : [];
  return {
    "dek-quarterly": { kinds: ["dek"], schedule: { preset: "quarterly", timeZone: tz }, expiresAfter: "P120D", rotateBefore: "P14D", freezes },
    "kek-annual": { kinds: ["kek"], schedule: { preset: "annual", timeZone: tz }, expiresAfter: "P400D", rotateBefore: "P30D", overlap: "P30D", windows, freezes },
    "signing-monthly": { kinds: ["signing"], schedule: { cron: "30 2 1 * *", timeZone: tz }, expiresAfter: "P60D", overlap: "P14D", rollbackWindow: "P7D", windows },
    "secrets-30d": { kinds: ["secret"], schedule: { every: "P30D" }, expiresAfter: "P45D", rotateBefore: "P5D", warnBefore: ["P7D", "P1D"], freezes },
    "secrets-weekly": { kinds: ["secret"], schedule: { cron: "0 4 * * 1", timeZone: tz }, expiresAfter: "P21D", overlap: "P2D", warnBefore: ["P3D"], windows, status: r() < 0.05 ? "suspended" : "active" },
  };
}

function makeInventory(keyCount: number, tenantCount: number, now: Date): { keys: ManagedKey[]; policies: Policy[] } {
  const r = rng(42);
  const policies: Policy[] = [];
  const keys: ManagedKey[] = [];
  const perTenant = Math.ceil(keyCount / tenantCount);
  const at = (ms: number) => new Date(ms).toISOString();
  const DAY = 86_400_000;
  for (let t = 0; t < tenantCount && keys.length < keyCount; t++) {
    const tenant = `tenant-${t}`;
    const tpl = templates(r);
    for (const [policyId, body] of Object.entries(tpl)) policies.push(validatePolicy({ policyId, tenant, ...body }, { now }));
    const plan: [KeyKind, string][] = [["dek", "dek-quarterly"], ["kek", "kek-annual"], ["kek", "kek-annual"], ["signing", "signing-monthly"]];
    while (plan.length < perTenant) plan.push(["secret", r() < 0.7 ? "secrets-30d" : "secrets-weekly"]);
    plan.forEach(([kind, policyId], i) => {
      if (keys.length >= keyCount) return;
      const keyId = kind === "dek" ? `dek:${tenant}` : `${kind}:vault-${t % 50}/${tenant}-${kind}-${i}`;
      const life = { dek: 120, kek: 400, signing: 60, secret: policyId === "secrets-30d" ? 45 : 21 }[kind];
      const created = now.getTime() - Math.floor(r() * life * 1.3 * DAY);
      const rotatedLater = r() < 0.3;
      keys.push({
        keyId, kind, tenant,
        ...(r() < 0.03 ? {} : { policyId: r() < 0.01 ? "missing-policy" : policyId }),
        primaryVersion: "v2",
        versions: [
          { version: "v1", state: r() < 0.5 ? "secondary" : "retired", createdAt: at(created - life * DAY), expiresAt: at(created) },
          { version: "v2", state: "primary", createdAt: at(created), expiresAt: at(created + life * DAY) },
        ],
        ...(rotatedLater ? { lastRotatedAt: at(created + 60_000), lastRotationId: `${keyId}@x` } : {}),
      });
    });
  }
  return { keys, policies };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const keyCount = arg(args, "keys", 100_000);
  const runs = arg(args, "runs", 5);
  const tenants = arg(args, "tenants", 2_000);
  const now = new Date("2026-11-22T12:00:00Z");
  process.stderr.write(`[bench planner] building ${keyCount} keys for ${tenants} tenants...\n`);
  const { keys, policies } = makeInventory(keyCount, tenants, now);

  const timings: number[] = [];
  const cpuTimings: number[] = [];
  let reasons: Record<string, number> = {};
  let dueNow = 0;
  let warnings = 0;
  for (let i = 0; i <= runs; i++) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const items = plan(now, keys, policies, "P90D");
    const ms = performance.now() - started;
    const cpuUsed = process.cpuUsage(cpu);
    timings.push(ms);
    cpuTimings.push((cpuUsed.user + cpuUsed.system) / 1000);
    process.stderr.write(`[bench planner] run ${i === 0 ? "cold" : i}: ${ms.toFixed(0)} ms (${Math.round((keys.length / ms) * 1000)} keys/s)\n`);
    if (i === 0) {
      reasons = {};
      for (const item of items) {
        reasons[item.reason] = (reasons[item.reason] ?? 0) + 1;
        if (item.dueNow) dueNow++;
        warnings += item.warnings.length;
      }
    }
  }
  const [cold, ...warm] = timings;
  const sorted = [...warm].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const cpuSorted = cpuTimings.slice(1).sort((a, b) => a - b);
  const cpuMedian = cpuSorted[Math.floor(cpuSorted.length / 2)]!;
  return {
    keys: keys.length,
    policies: policies.length,
    keysPerSec: Math.round((keys.length / median) * 1000),
    medianMs: Math.round(median),
    bestKeysPerSec: Math.round((keys.length / sorted[0]!) * 1000),
    // The machine is shared: CPU time per run is less noisy than wall time (plan() is synchronous,
    // single-threaded; the CPU time includes garbage collection on helper threads).
    keysPerCpuSec: Math.round((keys.length / cpuMedian) * 1000),
    loadAverage: Number(loadavg()[0]!.toFixed(2)),
    coldMs: Math.round(cold!),
    coldKeysPerSec: Math.round((keys.length / cold!) * 1000),
    runs,
    dueNow,
    warnings,
    reasons: reasons,
  };
}
