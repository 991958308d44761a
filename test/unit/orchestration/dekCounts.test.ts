// The KEK workflows count references in legs: each countReferences activity reads one bounded leg
// and hands its cursor and running totals to the next; only the last leg's totals decide.
import { describe, expect, it } from "vitest";
import type { MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import type { DekPort } from "../../../lib/ports";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedKekWithDeks, T0, VAULT } from "./fixtures";
import { dekRecord } from "../../../lib/envelope/dekRecord";

const O = DURABLE.orchestrators;
const A = DURABLE.activities;

/** The memory store counts one tenant per leg (the Table store counts whole pages per leg). */
function countInLegs(deps: MemoryRotationDeps): void {
  const port: DekPort = deps.deks;
  port.countByKekVersionPage = async (kekKeyId, opts) => {
    const tenants = await deps.deks.listTenants();
    const i = opts.continuation ? Number(opts.continuation) : 0;
    const byVersion: Record<string, number> = {};
    for (const d of await deps.deks.tenantDeks(tenants[i] ?? "")) if (d.kekKeyId === kekKeyId) byVersion[d.kekVersion] = (byVersion[d.kekVersion] ?? 0) + 1;
    return { byVersion, ...(i + 1 < tenants.length ? { continuation: String(i + 1) } : {}) };
  };
}

describe("reference counts in legs", () => {
  it("a KEK rotation counts in several bounded legs, each carrying the previous cursor and totals, and completes on the summed count", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 3, 4);
    countInLegs(deps);
    const driver = new Driver(deps);

    const out = (await driver.run(O.rotation, { rotationId: `${seeded.keyId}@manual:r1`, keyId: seeded.keyId, trigger: "manual", actor: "alice" })) as RotationOutput;

    expect(out).toMatchObject({ outcome: "completed", counts: expect.objectContaining({ total: 12, remainingOld: 0 }) });
    const legs = driver.trace.activities.filter((a) => a.name === A.countReferences).map((a) => a.input as { paged?: boolean; cursor?: string; partial?: Record<string, number> });
    expect(legs.length).toBeGreaterThanOrEqual(6); // two counts (before and after the rewrap), three legs each
    expect(legs.every((l) => l.paged === true)).toBe(true);
    expect(legs.filter((l) => l.cursor !== undefined && l.partial !== undefined).length).toBeGreaterThanOrEqual(4);
  });

  it("a retirement keeps an old KEK version whose only remaining reference is counted in the last leg", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 3, 1);
    countInLegs(deps);
    const driver = new Driver(deps);
    await driver.run(O.rotation, { rotationId: `${seeded.keyId}@manual:r1`, keyId: seeded.keyId, trigger: "manual", actor: "alice" });
    // A DEK of the last tenant still under the old version (e.g. restored from a backup).
    const wrapped = await deps.vault.wrapKey(VAULT, "tenant-kek", seeded.v1, Buffer.alloc(32, 7));
    deps.deks.insert(dekRecord({ tenant: "tenant2", dekVersion: 9999, dekId: "d9999", state: "secondary", kekKeyId: seeded.keyId, kekVersion: seeded.v1, wrapped: wrapped, createdAt: T0 }));
    driver.now = new Date("2026-06-01T00:00:00Z");

    const out = (await driver.run(O.retirement, { rotationId: `${seeded.keyId}@retire:1`, keyId: seeded.keyId, actor: "system:timer", trigger: "schedule" })) as RotationOutput;

    expect(out.counts).toMatchObject({ retired: 0, kept: 1 });
    expect((await deps.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === seeded.v1)?.enabled).toBe(true);
  });

  it("a KEK rotation that needs a second rewrap pass never counts the whole table in one activity (the plan gets the count taken in legs)", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 3, 2);
    countInLegs(deps);
    let wholeTableCounts = 0;
    const whole = deps.deks.countByKekVersion.bind(deps.deks);
    deps.deks.countByKekVersion = (kekKeyId) => {
      wholeTableCounts++;
      return whole(kekKeyId);
    };
    const driver = new Driver(deps);
    let arrived = false;
    let ranges = 0;
    driver.beforeActivity = async (name) => {
      if (name === A.rewrapRange) ranges++;
      // A DEK under the old version arrives after the first pass: the count finds it, a second pass is needed.
      if (name === A.countReferences && ranges > 0 && !arrived) {
        arrived = true;
        const wrapped = await deps.vault.wrapKey(VAULT, "tenant-kek", seeded.v1, Buffer.alloc(32, 9));
        deps.deks.insert(dekRecord({ tenant: "tenant1", dekVersion: 9000, dekId: "d9000", state: "secondary", kekKeyId: seeded.keyId, kekVersion: seeded.v1, wrapped: wrapped, createdAt: T0 }));
      }
    };

    const out = (await driver.run(O.rotation, { rotationId: `${seeded.keyId}@manual:r1`, keyId: seeded.keyId, trigger: "manual", actor: "alice" })) as RotationOutput;

    expect(out).toMatchObject({ outcome: "completed", counts: expect.objectContaining({ remainingOld: 0 }) });
    expect(arrived).toBe(true);
    expect(driver.trace.activities.filter((a) => a.name === A.rewrapRange && (a.input as { op?: string }).op === "plan")).toHaveLength(2);
    expect(wholeTableCounts).toBe(0);
  });
});
