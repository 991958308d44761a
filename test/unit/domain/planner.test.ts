import { describe, expect, it } from "vitest";
import type { ManagedKey } from "../../../lib/domain/keys";
import { validatePolicy, type Policy } from "../../../lib/domain/policy";
import { plan, Planner } from "../../../lib/domain/planner";

const NOW = new Date("2026-11-22T12:00:00Z");

function policy(over: Record<string, unknown> = {}): Policy {
  return validatePolicy({ policyId: "p", tenant: "contoso", kinds: ["kek", "dek", "signing", "secret"], schedule: { every: "P30D" }, expiresAfter: "P60D", ...over }, { now: NOW });
}
function key(over: Partial<ManagedKey> & { created?: string; expires?: string } = {}): ManagedKey {
  const { created = "2026-11-01T00:00:00Z", expires, ...rest } = over;
  return {
    keyId: "kek:vault1/k1", kind: "kek", tenant: "contoso", policyId: "p", primaryVersion: "v1",
    versions: [{ version: "v1", state: "primary", createdAt: created, ...(expires ? { expiresAt: expires } : {}) }],
    ...rest,
  };
}
const one = (k: ManagedKey, p: Policy | Policy[] = policy(), now = NOW, horizon = "P90D") => plan(now, [k], Array.isArray(p) ? p : [p], horizon)[0]!;

describe("plan: keys without an applicable policy", () => {
  it("noPolicy when none is attached", () => {
    const { policyId: _p, ...k } = key();
    expect(one(k)).toMatchObject({ reason: "noPolicy", dueNow: false, detail: "no policy attached" });
  });
  it("noPolicy when the attached policy does not exist", () => {
    expect(one(key({ policyId: "missing" }))).toMatchObject({ reason: "noPolicy", detail: expect.stringContaining("does not exist") });
  });
  it("noPolicy when the only policy of that id belongs to another tenant", () => {
    const item = one(key({ tenant: "fabrikam" }));
    expect(item.reason).toBe("noPolicy");
    expect(item.rotationId).toBeUndefined();
  });
  it("noPolicy when the policy does not cover the key's kind", () => {
    expect(one(key(), policy({ kinds: ["secret"] }))).toMatchObject({ reason: "noPolicy", detail: expect.stringContaining("not kek") });
  });
  it("policySuspended when the policy is suspended, still with expiry warnings", () => {
    const item = one(key({ expires: "2026-12-01T00:00:00Z" }), policy({ status: "suspended" }));
    expect(item).toMatchObject({ reason: "policySuspended", dueNow: false });
    expect(item.dueAt).toBeUndefined();
    expect(item.warnings.map((w) => w.threshold)).toEqual(["P30D", "P7D", "P1D"]);
  });
});

describe("plan: schedule", () => {
  it("the next slot is the anchor (primary's createdAt) plus the interval", () => {
    expect(one(key())).toMatchObject({
      reason: "schedule", dueNow: false, slot: "2026-12-01T00:00:00.000Z", dueAt: "2026-12-01T00:00:00.000Z",
      rotationId: "kek:vault1/k1@2026-12-01T00:00:00.000Z", withinHorizon: true,
    });
  });
  it("lastRotatedAt, when present, anchors the schedule instead of createdAt", () => {
    expect(one(key({ lastRotatedAt: "2026-11-10T00:00:00Z" })).slot).toBe("2026-12-10T00:00:00.000Z");
  });
  it("due now once the slot has come, keeping the slot's time as dueAt", () => {
    expect(one(key({ created: "2026-10-20T00:00:00Z" }))).toMatchObject({ reason: "schedule", dueNow: true, slot: "2026-11-19T00:00:00.000Z", dueAt: "2026-11-19T00:00:00.000Z" });
  });
  it("calendar presets fall on the first of the quarter at 02:00 in the policy's time zone", () => {
    expect(one(key(), policy({ schedule: { preset: "quarterly" }, expiresAfter: "P120D" })).slot).toBe("2027-01-01T02:00:00.000Z");
    expect(one(key(), policy({ schedule: { preset: "quarterly", timeZone: "Europe/Berlin" }, expiresAfter: "P120D" })).slot).toBe("2027-01-01T01:00:00.000Z");
  });
  it("calendar months clamp to the month's end", () => {
    expect(one(key({ created: "2026-10-31T00:00:00Z" }), policy({ schedule: { every: "P1M" } })).slot).toBe("2026-11-30T00:00:00.000Z");
  });
  it("beyond the horizon: planned but not withinHorizon", () => {
    expect(one(key(), policy(), NOW, "P7D")).toMatchObject({ reason: "schedule", withinHorizon: false, dueAt: "2026-12-01T00:00:00.000Z" });
  });
  it("a key with no version and no rotation yet is due now for its initial version", () => {
    expect(one(key({ versions: [], primaryVersion: undefined }))).toMatchObject({ reason: "overdue", dueNow: true, slot: "initial", rotationId: "kek:vault1/k1@initial" });
  });
});

describe("plan: missed slots", () => {
  it("a key that missed several every-slots is overdue once, at the latest missed slot", () => {
    expect(one(key({ created: "2026-06-01T00:00:00Z" }), policy({ expiresAfter: "P400D" }))).toMatchObject({
      reason: "overdue", dueNow: true, slot: "2026-10-29T00:00:00.000Z", rotationId: "kek:vault1/k1@2026-10-29T00:00:00.000Z",
    });
  });
  it("a key that missed several cron slots is overdue once, at the latest missed slot", () => {
    const p = policy({ schedule: { cron: "0 3 * * 1", timeZone: "Europe/London" }, expiresAfter: "P40D" });
    expect(one(key({ created: "2026-09-01T00:00:00Z", expires: "2027-01-01T00:00:00Z" }), p)).toMatchObject({ reason: "overdue", dueNow: true, slot: "2026-11-16T03:00:00.000Z" });
  });
  it("the overdue slot does not change between timer runs until a later slot passes", () => {
    const k = key({ created: "2026-06-01T00:00:00Z" });
    const p = policy({ expiresAfter: "P400D" });
    const ids = ["2026-11-22T12:00:00Z", "2026-11-22T12:15:00Z", "2026-11-27T23:59:59Z"].map((t) => one(k, p, new Date(t)).rotationId);
    expect(new Set(ids).size).toBe(1);
    expect(one(k, p, new Date("2026-11-28T00:00:00Z")).slot).toBe("2026-11-28T00:00:00.000Z");
  });
});

describe("plan: rotateBefore and expiry", () => {
  it("rotateBefore when the primary's expiry minus rotateBefore comes before the scheduled slot", () => {
    const p = policy({ schedule: { preset: "quarterly" }, expiresAfter: "P120D", rotateBefore: "P14D" });
    expect(one(key({ expires: "2026-12-20T00:00:00Z" }), p)).toMatchObject({
      reason: "rotateBefore", slot: "2026-12-06T00:00:00.000Z", dueAt: "2026-12-06T00:00:00.000Z", dueNow: false, expiresAt: "2026-12-20T00:00:00Z",
    });
  });
  it("rotateBefore due now once its instant has passed", () => {
    expect(one(key({ expires: "2026-11-25T00:00:00Z" }))).toMatchObject({ reason: "rotateBefore", dueNow: true, slot: "2026-11-18T00:00:00.000Z" });
  });
  it("overdue when the primary has already expired", () => {
    expect(one(key({ expires: "2026-11-20T00:00:00Z" }))).toMatchObject({ reason: "overdue", dueNow: true });
  });
});

describe("plan: freezes and windows", () => {
  it("frozen: a slot inside a freeze waits for its end; the slot and rotationId stay", () => {
    const item = one(key(), policy({ freezes: [{ from: "2026-11-28", to: "2026-12-05", reason: "year-end" }] }));
    expect(item).toMatchObject({ reason: "frozen", dueNow: false, slot: "2026-12-01T00:00:00.000Z", frozenUntil: "2026-12-06T00:00:00.000Z", dueAt: "2026-12-06T00:00:00.000Z" });
    expect(item.rotationId).toBe("kek:vault1/k1@2026-12-01T00:00:00.000Z");
  });
  it("frozen: a key due now inside a freeze is not due now", () => {
    expect(one(key({ created: "2026-10-20T00:00:00Z" }), policy({ freezes: [{ from: "2026-11-22T00:00:00Z", to: "2026-11-23T06:00:00Z" }] }))).toMatchObject({
      reason: "frozen", dueNow: false, dueAt: "2026-11-23T06:00:00.000Z",
    });
  });
  it("waitingForWindow: a slot outside every window waits for the next opening", () => {
    const p = policy({ windows: [{ cron: "0 22 * * 6", timeZone: "Europe/London", duration: "PT4H" }] });
    expect(one(key(), p)).toMatchObject({ reason: "waitingForWindow", slot: "2026-12-01T00:00:00.000Z", dueAt: "2026-12-05T22:00:00.000Z" });
    expect(one(key({ created: "2026-10-20T00:00:00Z" }), p)).toMatchObject({ reason: "waitingForWindow", dueNow: false, dueAt: "2026-11-28T22:00:00.000Z" });
  });
  it("a slot inside an open window is due at the slot", () => {
    const p = policy({ windows: [{ cron: "0 22 * * 1", timeZone: "UTC", duration: "PT4H" }] });
    expect(one(key(), p)).toMatchObject({ reason: "schedule", dueAt: "2026-12-01T00:00:00.000Z" });
  });
  it("a window that opens inside a freeze is skipped for the next one after the freeze", () => {
    const p = policy({
      windows: [{ cron: "0 22 * * 6", timeZone: "UTC", duration: "PT4H" }],
      freezes: [{ from: "2026-12-05T00:00:00Z", to: "2026-12-07T00:00:00Z" }],
    });
    expect(one(key(), p)).toMatchObject({ reason: "frozen", dueAt: "2026-12-12T22:00:00.000Z", frozenUntil: "2026-12-07T00:00:00.000Z" });
  });
});

describe("plan: cron slots across DST", () => {
  const daily0230 = (tz: string) => policy({ schedule: { cron: "30 2 * * *", timeZone: tz }, expiresAfter: "P10D", rotateBefore: "P1D", overlap: "P1D", warnBefore: ["P1D"] });
  const slotAfter = (tz: string, rotated: string, now: string) => one(key({ lastRotatedAt: rotated, created: rotated }), daily0230(tz), new Date(now)).slot;

  it("Europe/London: 02:30 local on both change days", () => {
    expect(slotAfter("Europe/London", "2026-03-28T02:35:00Z", "2026-03-28T12:00:00Z")).toBe("2026-03-29T01:30:00.000Z");
    expect(slotAfter("Europe/London", "2026-10-24T01:35:00Z", "2026-10-24T12:00:00Z")).toBe("2026-10-25T02:30:00.000Z");
  });
  it("America/New_York: at 03:00 EDT on the day 02:30 does not exist", () => {
    expect(slotAfter("America/New_York", "2026-03-07T07:35:00Z", "2026-03-07T12:00:00Z")).toBe("2026-03-08T07:00:00.000Z");
  });
  it("America/New_York: once on the fall-back day", () => {
    expect(slotAfter("America/New_York", "2026-10-31T06:35:00Z", "2026-10-31T12:00:00Z")).toBe("2026-11-01T07:30:00.000Z");
    expect(slotAfter("America/New_York", "2026-11-01T07:35:00Z", "2026-11-01T12:00:00Z")).toBe("2026-11-02T07:30:00.000Z");
  });
  it("a repeated 01:30 fires once: after rotating at the first 01:30, the second is not a slot", () => {
    const p = policy({ schedule: { cron: "30 1 * * *", timeZone: "Europe/London" }, expiresAfter: "P10D", rotateBefore: "P1D", overlap: "P1D", warnBefore: ["P1D"] });
    // 00:30Z is 01:30 BST; 01:30Z would be the repeated 01:30 GMT.
    const item = one(key({ lastRotatedAt: "2026-10-25T00:35:00Z" }), p, new Date("2026-10-25T01:45:00Z"));
    expect(item).toMatchObject({ dueNow: false, slot: "2026-10-26T01:30:00.000Z" });
  });
});

describe("plan: expiry warnings", () => {
  it("one per warnBefore threshold within the horizon, with a stable id per version and threshold", () => {
    const item = one(key({ expires: "2027-01-15T00:00:00Z" }), policy({ schedule: { preset: "quarterly" }, expiresAfter: "P120D" }), NOW, "P90D");
    expect(item.warnings).toEqual([
      { warningId: "kek:vault1/k1@warn:v1:P30D", version: "v1", threshold: "P30D", at: "2026-12-16T00:00:00.000Z", expiresAt: "2027-01-15T00:00:00Z", due: false },
      { warningId: "kek:vault1/k1@warn:v1:P7D", version: "v1", threshold: "P7D", at: "2027-01-08T00:00:00.000Z", expiresAt: "2027-01-15T00:00:00Z", due: false },
      { warningId: "kek:vault1/k1@warn:v1:P1D", version: "v1", threshold: "P1D", at: "2027-01-14T00:00:00.000Z", expiresAt: "2027-01-15T00:00:00Z", due: false },
    ]);
    expect(one(key({ expires: "2027-01-15T00:00:00Z" }), policy({ schedule: { preset: "quarterly" }, expiresAfter: "P120D" }), NOW, "P30D").warnings.map((w) => w.threshold)).toEqual(["P30D"]);
  });
  it("after downtime only the most urgent passed threshold is due, not all of them", () => {
    const item = one(key({ expires: "2026-11-23T00:00:00Z" }));
    expect(item.warnings).toEqual([expect.objectContaining({ threshold: "P1D", due: true })]);
  });
  it("secondary versions are warned about too; retired, revoked and expired ones are not", () => {
    const k = key({
      expires: "2027-03-01T00:00:00Z",
      versions: [
        { version: "v0", state: "secondary", createdAt: "2026-09-01T00:00:00Z", expiresAt: "2026-11-25T00:00:00Z" },
        { version: "vr", state: "retired", createdAt: "2026-08-01T00:00:00Z", expiresAt: "2026-11-25T00:00:00Z" },
        { version: "vx", state: "revoked", createdAt: "2026-08-01T00:00:00Z", expiresAt: "2026-11-25T00:00:00Z" },
        { version: "vo", state: "secondary", createdAt: "2026-08-01T00:00:00Z", expiresAt: "2026-11-20T00:00:00Z" },
        { version: "v1", state: "primary", createdAt: "2026-11-01T00:00:00Z", expiresAt: "2027-03-01T00:00:00Z" },
      ],
    });
    expect(one(k).warnings.map((w) => `${w.version}:${w.threshold}:${w.due}`)).toEqual(["v0:P7D:true", "v0:P1D:false", "v1:P30D:false"]);
  });
  it("keys without a policy are warned at the default thresholds", () => {
    const { policyId: _p, ...k } = key({ expires: "2026-12-01T00:00:00Z" });
    expect(one(k).warnings.map((w) => w.threshold)).toEqual(["P30D", "P7D", "P1D"]);
  });
});

describe("plan: determinism", () => {
  it("gives the same answer for the same input, and accepts policies as a Map", () => {
    const keys = [key(), key({ keyId: "dek:contoso", kind: "dek", created: "2026-06-01T00:00:00Z" })];
    const p = policy({ windows: [{ cron: "0 22 * * 6", timeZone: "Europe/London", duration: "PT4H" }] });
    const a = plan(NOW, keys, [p]);
    expect(plan(NOW, keys, new Map([["contoso/p", p]]))).toEqual(a);
    expect(plan(NOW, keys, [validatePolicy(JSON.parse(JSON.stringify(p)), { now: NOW })])).toEqual(a);
  });
  it("plans one key at a time for callers that stream the inventory", () => {
    const planner = new Planner(NOW, [policy()], "P30D");
    expect(planner.planKey(key())).toEqual(plan(NOW, [key()], [policy()], "P30D")[0]);
  });
  it("refuses a bad horizon naming it", () => {
    expect(() => plan(NOW, [], [], "90 days")).toThrow(expect.objectContaining({ field: "horizon" }));
  });
});
