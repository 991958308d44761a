// The branch-key schedule of a KEK policy (branchKeys.every): what validatePolicy accepts and refuses,
// and what the planner makes of a KEK's primary branch keys' ages (due now, next, held by windows,
// freezes and suspension exactly like the key's own rotation, one stable rotation id per due period).
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import type { ManagedKey } from "../../../lib/domain/keys";
import { MAX_BRANCH_IDS_PER_ROTATION, Planner, type BranchKeyAge } from "../../../lib/domain/planner";
import { policySchema, validatePolicy, type Policy } from "../../../lib/domain/policy";

const NOW = new Date("2026-11-22T12:00:00Z");
const DAY = 86_400_000;
const base = { policyId: "kek-p", tenant: "contoso", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" };

function refusedField(input: unknown): string | undefined {
  try {
    validatePolicy(input, { now: NOW });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).code).toBe("PolicyInvalid");
    expect((err as InvalidRequestError).status).toBe(400);
    return (err as InvalidRequestError).field;
  }
  throw new Error(`expected a refusal for ${JSON.stringify(input)}`);
}

describe("policy branchKeys.every", () => {
  it("is accepted on a KEK policy, from P1D up to P5Y, and kept as written", () => {
    for (const every of ["P1D", "PT24H", "P90D", "P1Y", "P5Y"]) {
      expect(validatePolicy({ ...base, branchKeys: { every } }, { now: NOW }).branchKeys).toEqual({ every });
    }
    expect(validatePolicy({ ...base, kinds: ["dek", "kek"], branchKeys: { every: "P30D" } }, { now: NOW }).branchKeys).toEqual({ every: "P30D" });
    expect(validatePolicy(base, { now: NOW }).branchKeys).toBeUndefined();
  });

  it("is refused on a policy whose kinds do not include kek, naming branchKeys", () => {
    expect(refusedField({ ...base, kinds: ["signing"], branchKeys: { every: "P90D" } })).toBe("branchKeys");
    expect(refusedField({ ...base, kinds: ["dek"], schedule: { every: "P30D" }, expiresAfter: "P60D", branchKeys: { every: "P90D" } })).toBe("branchKeys");
  });

  it("is refused shorter than a day, longer than five years, or not an ISO-8601 duration, naming branchKeys.every", () => {
    for (const every of ["PT23H59M", "PT1H", "P0D", "P6Y", "P61M", "90 days", "", "P"]) {
      expect(refusedField({ ...base, branchKeys: { every } }), every).toBe("branchKeys.every");
    }
  });

  it("is refused with unknown fields or without every", () => {
    expect(refusedField({ ...base, branchKeys: { every: "P90D", cron: "0 0 * * *" } })).toBe("branchKeys.cron");
    expect(refusedField({ ...base, branchKeys: {} })).toBe("branchKeys.every");
    expect(refusedField({ ...base, branchKeys: "P90D" })).toBe("branchKeys");
  });

  it("is part of the policy schema the OpenAPI document is derived from", () => {
    expect(policySchema.shape.branchKeys).toBeDefined();
    expect(policySchema.safeParse({ ...base, branchKeys: { every: "P90D" } }).success).toBe(true);
  });
});

function policy(over: Record<string, unknown> = {}): Policy {
  return validatePolicy({ ...base, schedule: { every: "P30D" }, expiresAfter: "P60D", branchKeys: { every: "P90D" }, ...over }, { now: NOW });
}
const kek: ManagedKey = {
  keyId: "kek:vault1/k1", kind: "kek", tenant: "contoso", policyId: "kek-p", primaryVersion: "v1",
  // Rotated recently: the KEK itself is not due, whatever its branch keys are.
  versions: [{ version: "v1", state: "primary", createdAt: "2026-11-20T00:00:00Z" }], lastRotatedAt: "2026-11-20T00:00:00Z",
};
const ago = (days: number, from = NOW) => new Date(from.getTime() - days * DAY).toISOString();
const branch = (branchId: string, createdDaysAgo: number, version = 1): BranchKeyAge => ({ branchId, version, createdAt: ago(createdDaysAgo) });
const planned = (p: Policy, primaries: BranchKeyAge[], now = NOW, horizon = "P90D") => new Planner(now, [p], horizon).planBranchKeys(kek, primaries);

describe("planner: a KEK's scheduled branch-key rotation", () => {
  it("is due now for the primary branch keys older than every, and names only those, oldest first", () => {
    const due = planned(policy(), [branch("s4-00002", 10), branch("s4-00000", 95), branch("s4-00001", 91), branch("d-acme", 120)])!;
    expect(due).toMatchObject({ dueNow: true, reason: "schedule", every: "P90D", withinHorizon: true, dueCount: 3 });
    expect(due.branchIds).toEqual(["d-acme", "s4-00000", "s4-00001"]);
    // The due period is when the oldest turned 90 days old; the rotation id names the KEK and that period.
    expect(due.slot).toBe(new Date(Date.parse(ago(120)) + 90 * DAY).toISOString());
    expect(due.rotationId).toBe(`kek:vault1/k1@branchKeys:${due.slot}`);
    expect(due.dueAt).toBe(due.slot);
  });

  it("is not due while every primary branch key is younger than every: the plan shows when it comes and which keys", () => {
    const due = planned(policy(), [branch("s2-00000", 80), branch("s2-00001", 1)])!;
    expect(due).toMatchObject({ dueNow: false, reason: "schedule", withinHorizon: true, dueCount: 1, branchIds: ["s2-00000"] });
    expect(due.dueAt).toBe(new Date(Date.parse(ago(80)) + 90 * DAY).toISOString());
    expect(planned(policy(), [branch("s2-00000", 1)], NOW, "P30D")).toMatchObject({ dueNow: false, withinHorizon: false });
  });

  it("keeps the same rotation id across firings of one due period, and moves to a new one once the due keys have new versions", () => {
    const ages = [branch("s2-00000", 100), branch("s2-00001", 92)];
    const first = planned(policy(), ages)!;
    const later = planned(policy(), ages, new Date(NOW.getTime() + 15 * 60_000))!;
    expect(later.rotationId).toBe(first.rotationId);
    expect(planned(policy(), ages, new Date(NOW.getTime() + 3 * DAY))!.rotationId).toBe(first.rotationId);
    const rotated = planned(policy(), [{ branchId: "s2-00000", version: 2, createdAt: NOW.toISOString() }, { branchId: "s2-00001", version: 2, createdAt: NOW.toISOString() }])!;
    expect(rotated.dueNow).toBe(false);
    expect(rotated.rotationId).not.toBe(first.rotationId);
  });

  it("is held by a freeze exactly like the key's own rotation, with the freeze's end", () => {
    const p = policy({ freezes: [{ from: "2026-11-20", to: "2026-11-30", reason: "year-end" }] });
    const due = planned(p, [branch("s2-00000", 100)])!;
    expect(due).toMatchObject({ dueNow: false, reason: "frozen", frozenUntil: "2026-12-01T00:00:00.000Z", dueAt: "2026-12-01T00:00:00.000Z", branchIds: ["s2-00000"] });
    expect(planned(p, [branch("s2-00000", 100)], new Date("2026-12-01T00:15:00Z"))).toMatchObject({ dueNow: true, rotationId: due.rotationId });
  });

  it("waits for a maintenance window exactly like the key's own rotation", () => {
    const p = policy({ windows: [{ cron: "0 2 * * *", timeZone: "UTC", duration: "PT1H" }] });
    const due = planned(p, [branch("s2-00000", 100)])!;
    expect(due).toMatchObject({ dueNow: false, reason: "waitingForWindow", dueAt: "2026-11-23T02:00:00.000Z" });
    expect(planned(p, [branch("s2-00000", 100)], new Date("2026-11-23T02:15:00Z"))).toMatchObject({ dueNow: true, rotationId: due.rotationId });
  });

  it("is nothing for a suspended policy, a policy without branchKeys, a KEK without branch keys, or a key that is not a KEK", () => {
    expect(planned(policy({ status: "suspended" }), [branch("s2-00000", 100)])).toBeUndefined();
    const { branchKeys: _b, ...without } = policy();
    expect(planned(without, [branch("s2-00000", 100)])).toBeUndefined();
    expect(planned(policy(), [])).toBeUndefined();
    const signingPolicy = validatePolicy({ ...base, kinds: ["kek", "signing"], branchKeys: { every: "P90D" } }, { now: NOW });
    expect(new Planner(NOW, [signingPolicy]).planBranchKeys({ ...kek, keyId: "signing:vault1/s1", kind: "signing" }, [branch("s2-00000", 100)])).toBeUndefined();
  });

  it("ages a branch key by its current (newest primary) version, once", () => {
    const due = planned(policy(), [branch("s2-00000", 100, 1), branch("s2-00000", 3, 2), branch("s2-00001", 95)])!;
    expect(due).toMatchObject({ dueNow: true, dueCount: 1, branchIds: ["s2-00001"] });
  });

  it("names at most as many branch ids as one rotation input carries, and counts the rest", () => {
    const many = Array.from({ length: MAX_BRANCH_IDS_PER_ROTATION + 5 }, (_, i) => branch(`s2000-${String(i).padStart(5, "0")}`, 100 + (i % 7)));
    const due = planned(policy(), many)!;
    expect(due.branchIds).toHaveLength(MAX_BRANCH_IDS_PER_ROTATION);
    expect(due.dueCount).toBe(MAX_BRANCH_IDS_PER_ROTATION + 5);
  });
});
