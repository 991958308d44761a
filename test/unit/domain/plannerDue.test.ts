// A plan over a horizon lists every rotation due within it, not only the next one.
import { describe, expect, it } from "vitest";
import type { ManagedKey } from "../../../lib/domain/keys";
import { plan } from "../../../lib/domain/planner";
import { validatePolicy, type Policy } from "../../../lib/domain/policy";

const NOW = new Date("2026-11-22T12:00:00Z");

function policy(over: Record<string, unknown> = {}): Policy {
  return validatePolicy({ policyId: "p", tenant: "contoso", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P180D", rotateBefore: "P30D", ...over }, { now: NOW });
}
const key: ManagedKey = {
  keyId: "kek:vault1/k1", kind: "kek", tenant: "contoso", policyId: "p", primaryVersion: "v1",
  versions: [{ version: "v1", state: "primary", createdAt: "2026-11-01T00:00:00Z", expiresAt: "2027-04-30T00:00:00Z" }],
};
const listed = (p: Policy, horizon: string, k: ManagedKey = key) => plan(NOW, [k], [p], horizon, { listDue: true })[0]!;

describe("plan with listDue: every rotation within the horizon", () => {
  it("a quarterly policy over P1Y lists the year's four rotations, the first with its rotationId", () => {
    const item = listed(policy(), "P1Y");
    expect(item.due?.map((d) => d.dueAt)).toEqual(["2027-01-01T02:00:00.000Z", "2027-04-01T02:00:00.000Z", "2027-07-01T02:00:00.000Z", "2027-10-01T02:00:00.000Z"]);
    expect(item.due?.[0]).toEqual({ slot: item.slot, dueAt: item.dueAt, rotationId: item.rotationId });
    expect(item.due?.slice(1).every((d) => d.rotationId === undefined)).toBe(true);
  });

  it("a shorter horizon lists only what falls within it", () => {
    expect(listed(policy(), "P6M").due?.map((d) => d.dueAt)).toEqual(["2027-01-01T02:00:00.000Z", "2027-04-01T02:00:00.000Z"]);
    expect(listed(policy(), "P7D").due).toBeUndefined();
  });

  it("an every-schedule counts each next rotation from when the one before runs", () => {
    const item = listed(policy({ schedule: { every: "P30D" }, expiresAfter: "P90D" }), "P90D");
    expect(item.due?.map((d) => d.dueAt)).toEqual(["2026-12-01T00:00:00.000Z", "2026-12-31T00:00:00.000Z", "2027-01-30T00:00:00.000Z"]);
  });

  it("a freeze moves the rotation it covers to its end, and the next ones count from there", () => {
    const item = listed(policy({ schedule: { every: "P30D" }, expiresAfter: "P90D", freezes: [{ from: "2026-12-20", to: "2027-01-03", reason: "year end" }] }), "P60D");
    expect(item.due?.map((d) => [d.slot, d.dueAt])).toEqual([
      ["2026-12-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"],
      ["2026-12-31T00:00:00.000Z", "2027-01-04T00:00:00.000Z"],
    ]);
  });

  it("an overdue key lists the rotation due now and then the schedule from now on", () => {
    const overdue: ManagedKey = { ...key, versions: [{ version: "v1", state: "primary", createdAt: "2026-05-01T00:00:00Z" }] };
    const item = listed(policy({ schedule: { every: "P30D" }, expiresAfter: "P90D" }), "P45D", overdue);
    expect(item.dueNow).toBe(true);
    expect(item.due?.map((d) => d.dueAt)).toEqual([item.dueAt, "2026-12-22T12:00:00.000Z"]);
  });

  it("leaves due out unless asked (the timer plans 100k keys and needs only the next)", () => {
    expect(plan(NOW, [key], [policy()], "P1Y")[0]!.due).toBeUndefined();
  });
});
