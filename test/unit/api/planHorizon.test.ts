// GET /api/plan?horizon=…: the horizon filters which keys are shown, and each shown key lists every
// rotation due within it.
import { describe, expect, it } from "vitest";
import { getPlan } from "../../../lib/api/queries";
import { memoryApiServices } from "../../../lib/api/services";
import type { ManagedKey } from "../../../lib/domain/keys";

const NOW = new Date("2026-11-22T12:00:00Z");

async function setup() {
  const mem = memoryApiServices({ clock: { now: () => NOW } });
  const base = { policyId: "", tenant: "contoso", kinds: ["kek"], rotateBefore: "P30D", expiresAfter: "P180D" };
  await mem.policies.put({ ...base, policyId: "quarterly", schedule: { preset: "quarterly" } }, undefined);
  await mem.policies.put({ ...base, policyId: "yearly", schedule: { every: "P1Y" }, expiresAfter: "P400D" }, undefined);
  const k = (name: string, policyId: string | undefined, created = "2026-11-01T00:00:00Z"): ManagedKey => ({
    keyId: `kek:vault1/${name}`, kind: "kek", tenant: "contoso", ...(policyId ? { policyId } : {}), primaryVersion: "v1",
    versions: [{ version: "v1", state: "primary", createdAt: created }],
  });
  await mem.rotation.inventory.put(k("q", "quarterly"), undefined);
  await mem.rotation.inventory.put(k("a", "yearly"), undefined);
  await mem.rotation.inventory.put(k("orphan", undefined), undefined);
  return mem.services;
}

describe("getPlan's horizon", () => {
  it("shows the keys due within the horizon and those that never rotate, not a key next due after it", async () => {
    const s = await setup();
    const plan = await getPlan(s, "P60D");
    expect(plan.items.map((i) => i.keyId).sort()).toEqual(["kek:vault1/orphan", "kek:vault1/q"]);
  });

  it("a P1Y plan lists the year's four quarterly rotations and the yearly one", async () => {
    const s = await setup();
    const plan = await getPlan(s, "P1Y");
    const byKey = Object.fromEntries(plan.items.map((i) => [i.keyId, i]));
    expect(byKey["kek:vault1/q"]?.due?.map((d) => d.dueAt.slice(0, 10))).toEqual(["2027-01-01", "2027-04-01", "2027-07-01", "2027-10-01"]);
    expect(byKey["kek:vault1/a"]?.due?.map((d) => d.dueAt.slice(0, 10))).toEqual(["2027-11-01"]);
    expect(byKey["kek:vault1/orphan"]).toMatchObject({ reason: "noPolicy" });
  });
});
