// The DEK fan-out pages its tenants: input and history hold one page whatever the number of tenants.
import { describe, expect, it } from "vitest";
import { Planner } from "../../../lib/domain/planner";
import { validatePolicy } from "../../../lib/domain/policy";
import { DURABLE } from "../../../lib/orchestration/names";
import { Driver } from "./driver";
import { freshDeps, seedKekWithDeks, seedPolicy } from "./fixtures";

const O = DURABLE.orchestrators;
const A = DURABLE.activities;

describe("DEK fan-out", () => {
  it("with three pages of tenants, no episode's input carries a tenant and each page activity returns one page at most", async () => {
    const deps = freshDeps();
    const pageSize = 4;
    await seedKekWithDeks(deps, 3 * pageSize, 1);
    const driver = new Driver(deps);

    const out = await driver.run(O.dekFanOut, { slot: "2026-Q2", concurrency: 2, pageSize });

    expect(out).toMatchObject({ tenants: 3 * pageSize, completed: 3 * pageSize, failed: 0 });
    const episodes = driver.trace.episodes.filter((e) => e.name === O.dekFanOut);
    expect(episodes).toHaveLength(3);
    for (const e of episodes) {
      expect(JSON.stringify(e.input)).not.toMatch(/tenant\d/);
      expect(JSON.stringify(e.input).length).toBeLessThan(400);
    }
    const pages = driver.trace.activities.filter((a) => a.name === A.listTenants);
    expect(pages).toHaveLength(3);
    for (const p of pages) expect((p.output as { tenants: string[] }).tenants.length).toBeLessThanOrEqual(pageSize);
    for (let t = 0; t < 3 * pageSize; t++) {
      expect((await deps.deks.tenantDeks(`tenant${t}`)).find((d) => d.state === "primary")?.rotationId).toBe(`dek:tenant${t}@2026-Q2`);
    }
  });

  it("the work one episode schedules is bounded by the page size, not by the number of tenants", async () => {
    const deps = freshDeps();
    await seedKekWithDeks(deps, 9, 1);
    const driver = new Driver(deps);
    const rotationsPerEpisode: number[] = [];
    let current = 0;
    driver.beforeActivity = (name) => {
      if (name === A.listTenants) {
        if (current > 0) rotationsPerEpisode.push(current);
        current = 0;
      }
      if (name === A.rotateTenantDek) current++;
    };
    await driver.run(O.dekFanOut, { slot: "2026-Q2", concurrency: 3, pageSize: 3 });
    rotationsPerEpisode.push(current);
    expect(rotationsPerEpisode).toEqual([3, 3, 3]);
  });

  it("refuses an explicit tenant list longer than one page (the input would grow with the tenants)", async () => {
    const deps = freshDeps();
    const driver = new Driver(deps);
    const tenants = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    await expect(driver.run(O.dekFanOut, { slot: "2026-Q2", tenants })).rejects.toThrow(/1000/);
  });

  it("leaves off a page every tenant whose rotation in this slot already failed, so a restarted fan-out never re-runs it", async () => {
    const deps = freshDeps();
    await seedKekWithDeks(deps, 3, 1);
    await deps.ledger.append({ keyId: "dek:tenant1", entryId: "dek:tenant1@2026-Q2#failed", type: "Failed", rotationId: "dek:tenant1@2026-Q2", actor: "system:timer" });
    const driver = new Driver(deps);

    const out = await driver.run(O.dekFanOut, { slot: "2026-Q2", pageSize: 10 });

    expect(out).toMatchObject({ tenants: 2, completed: 2 });
    expect(driver.trace.activities.filter((a) => a.name === A.rotateTenantDek).map((a) => (a.input as { tenant: string }).tenant).sort()).toEqual(["tenant0", "tenant2"]);
  });

  it("rotates only the tenants whose DEK the planner finds due in the fan-out's slot", async () => {
    const deps = freshDeps();
    await seedKekWithDeks(deps, 2, 1);
    const now = deps.clock.now();
    const input = { policyId: "dek-quarterly", tenant: "tenant0", kinds: ["dek" as const], schedule: { every: "P90D" }, expiresAfter: "P200D" };
    const policy = validatePolicy(input, { now });
    const other = { ...policy, tenant: "tenant1" };
    await seedPolicy(deps, input);
    await seedPolicy(deps, { ...input, tenant: "tenant1" });
    deps.schedulePolicies = () => Promise.resolve([policy, other]);
    const day = 86_400_000;
    await deps.inventory.put({ keyId: "dek:tenant0", kind: "dek", tenant: "tenant0", policyId: "dek-quarterly", versions: [], lastRotatedAt: new Date(now.getTime() - 100 * day).toISOString() }, undefined);
    await deps.inventory.put({ keyId: "dek:tenant1", kind: "dek", tenant: "tenant1", policyId: "dek-quarterly", versions: [], lastRotatedAt: new Date(now.getTime() - 5 * day).toISOString() }, undefined);
    const slot = new Planner(now, [policy, other], "P1D").planKey((await deps.inventory.get("dek:tenant0"))!.key).slot!;
    const driver = new Driver(deps);

    const out = await driver.run(O.dekFanOut, { slot, pageSize: 10 });

    expect(out).toMatchObject({ tenants: 1, completed: 1 });
    expect(driver.trace.activities.filter((a) => a.name === A.rotateTenantDek).map((a) => (a.input as { tenant: string }).tenant)).toEqual(["tenant0"]);
  });
});
