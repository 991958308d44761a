import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { DEFAULT_WARN_BEFORE, validatePolicy } from "../../../lib/domain/policy";

const NOW = new Date("2026-11-22T12:00:00Z");
const base = {
  policyId: "quarterly-kek",
  tenant: "contoso",
  kinds: ["kek"],
  schedule: { preset: "quarterly" },
  expiresAfter: "P120D",
};

function refusal(input: unknown): InvalidRequestError {
  try {
    validatePolicy(input, { now: NOW });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    const e = err as InvalidRequestError;
    expect(e.code).toBe("PolicyInvalid");
    expect(e.status).toBe(400);
    expect(e.message).toContain("[keyrotor] [policy]");
    return e;
  }
  throw new Error(`expected a refusal for ${JSON.stringify(input)}`);
}
const fieldOf = (input: unknown) => refusal(input).field;
const accepts = (input: unknown) => validatePolicy(input, { now: NOW });

describe("validatePolicy accepts", () => {
  it("a minimal policy and fills in the documented defaults", () => {
    const p = accepts(base);
    expect(p).toMatchObject({
      rotateBefore: "P7D", overlap: "P7D", revokeOld: false, rollbackWindow: "P1D", maxAttempts: 3,
      warnBefore: [...DEFAULT_WARN_BEFORE], windows: [], freezes: [], complianceTags: [], status: "active",
    });
    expect(p.retainFor).toBeUndefined();
  });

  it("every field of the vocabulary", () => {
    const p = accepts({
      ...base, kinds: ["kek", "signing"], schedule: { cron: "30 2 1 */3 *", timeZone: "Europe/London" }, rotateBefore: "P14D",
      expiresAfter: "P1Y", overlap: "P30D", revokeOld: true, retainFor: "P7Y", rollbackWindow: "P7D", maxAttempts: 5,
      warnBefore: ["P60D", "P14D"], windows: [{ cron: "0 1 * * 6", timeZone: "America/New_York", duration: "PT4H" }],
      freezes: [{ from: "2026-12-20", to: "2027-01-03", reason: "holiday freeze" }], complianceTags: ["PCI-DSS", "SOC2"], status: "suspended",
      description: "platform keys",
    });
    expect(p.status).toBe("suspended");
    expect(p.windows).toHaveLength(1);
  });

  it("a daily fixed-time cron for keys although DST makes one day 23 hours long", () => {
    expect(accepts({ ...base, schedule: { cron: "30 2 * * *", timeZone: "America/New_York" }, expiresAfter: "P10D", rotateBefore: "P2D", overlap: "P2D", warnBefore: ["P1D"] }).schedule.cron).toBe("30 2 * * *");
  });

  it("an hourly schedule for secrets, with generator options", () => {
    // overlap P1D: the floor for secrets (overlapFloor.test.ts), so expiresAfter is longer than it.
    const p = accepts({ ...base, kinds: ["secret"], schedule: { every: "PT1H" }, expiresAfter: "P2D", rotateBefore: "PT1H", overlap: "P1D", rollbackWindow: "PT30M", warnBefore: ["PT2H"], secret: { length: 48 } });
    expect(p.secret).toEqual({ length: 48, encoding: "base64url" });
  });

  it("a weekly window under a monthly schedule", () => {
    accepts({ ...base, schedule: { every: "P30D" }, expiresAfter: "P60D", windows: [{ cron: "0 1 * * 0", timeZone: "UTC", duration: "PT3H" }] });
  });
});

describe("validatePolicy refuses, naming the field", () => {
  it("unknown fields, at the top and nested", () => {
    expect(fieldOf({ ...base, colour: "blue" })).toBe("colour");
    expect(fieldOf({ ...base, schedule: { preset: "quarterly", jitter: "PT1H" } })).toBe("schedule.jitter");
    expect(fieldOf({ ...base, windows: [{ cron: "0 1 * * 6", timeZone: "UTC", duration: "PT4H", label: "x" }] })).toBe("windows.0.label");
    expect(fieldOf({ ...base, freezes: [{ from: "2026-12-20", to: "2027-01-03", by: "bob" }] })).toBe("freezes.0.by");
  });

  it("missing required fields and wrong types", () => {
    const { expiresAfter: _omit, ...noExpiry } = base;
    expect(fieldOf(noExpiry)).toBe("expiresAfter");
    expect(fieldOf({ ...base, revokeOld: "yes" })).toBe("revokeOld");
    expect(fieldOf("not an object")).toBe("policy");
  });

  it("unparseable durations", () => {
    expect(fieldOf({ ...base, expiresAfter: "120 days" })).toBe("expiresAfter");
    expect(fieldOf({ ...base, rotateBefore: "P" })).toBe("rotateBefore");
    expect(fieldOf({ ...base, overlap: "PT" })).toBe("overlap");
    expect(fieldOf({ ...base, overlap: "-P1D" })).toBe("overlap");
    expect(fieldOf({ ...base, retainFor: "forever" })).toBe("retainFor");
    expect(fieldOf({ ...base, rollbackWindow: "P0.5M" })).toBe("rollbackWindow");
    expect(fieldOf({ ...base, schedule: { every: "P1X" } })).toBe("schedule.every");
    expect(fieldOf({ ...base, warnBefore: ["P30D", "soon"] })).toBe("warnBefore.1");
    expect(fieldOf({ ...base, windows: [{ cron: "0 1 * * 6", timeZone: "UTC", duration: "4h" }] })).toBe("windows.0.duration");
  });

  it("unparseable cron expressions and time zones", () => {
    expect(fieldOf({ ...base, schedule: { cron: "61 2 1 * *", timeZone: "UTC" } })).toBe("schedule.cron");
    expect(fieldOf({ ...base, schedule: { cron: "0 0 2 1 */3 *", timeZone: "UTC" } })).toBe("schedule.cron");
    expect(fieldOf({ ...base, schedule: { cron: "@monthly", timeZone: "UTC" } })).toBe("schedule.cron");
    expect(fieldOf({ ...base, schedule: { cron: "0 2 1 * *", timeZone: "Mars/Olympus" } })).toBe("schedule.timeZone");
    expect(fieldOf({ ...base, schedule: { cron: "0 2 1 * *" } })).toBe("schedule.timeZone");
    expect(fieldOf({ ...base, schedule: { preset: "quarterly", timeZone: "Europe/Londres" } })).toBe("schedule.timeZone");
    expect(fieldOf({ ...base, windows: [{ cron: "0 25 * * *", timeZone: "UTC", duration: "PT1H" }] })).toBe("windows.0.cron");
    expect(fieldOf({ ...base, windows: [{ cron: "0 1 * * *", timeZone: "Nowhere", duration: "PT1H" }] })).toBe("windows.0.timeZone");
  });

  it("a schedule with none or more than one of every, cron and preset", () => {
    expect(fieldOf({ ...base, schedule: {} })).toBe("schedule");
    expect(fieldOf({ ...base, schedule: { every: "P90D", preset: "quarterly" } })).toBe("schedule");
    expect(fieldOf({ ...base, schedule: { preset: "weekly" } })).toBe("schedule.preset");
    expect(fieldOf({ ...base, schedule: { every: "P90D", timeZone: "UTC" } })).toBe("schedule.timeZone");
  });

  it("a cron schedule that (almost) never fires", () => {
    expect(fieldOf({ ...base, schedule: { cron: "0 0 30 2 *", timeZone: "UTC" } })).toBe("schedule.cron");
  });

  it("an interval under one day for kek, dek and signing keys", () => {
    for (const kind of ["kek", "dek", "signing"]) {
      expect(fieldOf({ ...base, kinds: [kind], schedule: { every: "PT12H" }, expiresAfter: "P3D", rotateBefore: "PT1H", overlap: "PT1H", rollbackWindow: "PT1H", warnBefore: ["PT2H"] })).toBe("schedule.every");
    }
    expect(fieldOf({ ...base, schedule: { cron: "0 */6 * * *", timeZone: "UTC" }, expiresAfter: "P3D", rotateBefore: "PT1H", overlap: "PT1H", rollbackWindow: "PT1H", warnBefore: ["PT2H"] })).toBe("schedule.cron");
    expect(fieldOf({ ...base, schedule: { cron: "0 2,4 * * *", timeZone: "UTC" }, expiresAfter: "P3D", rotateBefore: "PT1H", overlap: "PT1H", rollbackWindow: "PT1H", warnBefore: ["PT2H"] })).toBe("schedule.cron");
  });

  it("an interval under one hour for secrets, and the strictest kind wins in a mixed policy", () => {
    const fast = { ...base, schedule: { every: "PT30M" }, expiresAfter: "PT3H", rotateBefore: "PT10M", overlap: "PT10M", rollbackWindow: "PT5M", warnBefore: ["PT1H"] };
    expect(fieldOf({ ...fast, kinds: ["secret"] })).toBe("schedule.every");
    expect(fieldOf({ ...fast, kinds: ["secret", "dek"], schedule: { every: "PT2H" } })).toBe("schedule.every");
  });

  it("expiresAfter not longer than the interval plus rotateBefore", () => {
    expect(fieldOf({ ...base, schedule: { every: "P90D" }, expiresAfter: "P97D" })).toBe("expiresAfter");
    expect(accepts({ ...base, schedule: { every: "P90D" }, expiresAfter: "P98D" }).expiresAfter).toBe("P98D");
    // Calendar months count at their longest: a quarter can be 92 days (Jul–Sep), P3M up to 93.
    expect(fieldOf({ ...base, schedule: { every: "P3M" }, expiresAfter: "P99D" })).toBe("expiresAfter");
    expect(fieldOf({ ...base, schedule: { preset: "quarterly" }, expiresAfter: "P98D" })).toBe("expiresAfter");
  });

  it("overlap not shorter than expiresAfter", () => {
    expect(fieldOf({ ...base, overlap: "P120D" })).toBe("overlap");
    expect(fieldOf({ ...base, overlap: "P4M" })).toBe("overlap");
  });

  it("rotateBefore not shorter than expiresAfter", () => {
    expect(fieldOf({ ...base, rotateBefore: "P120D" })).toBe("rotateBefore");
  });

  it("a rollbackWindow longer than the overlap (the old version would be retired already)", () => {
    expect(fieldOf({ ...base, rollbackWindow: "P8D" })).toBe("rollbackWindow");
  });

  it("warning thresholds that are zero, repeated, or not shorter than expiresAfter", () => {
    expect(fieldOf({ ...base, warnBefore: ["P30D", "P0D"] })).toBe("warnBefore.1");
    expect(fieldOf({ ...base, warnBefore: ["P7D", "P1W"] })).toBe("warnBefore.1");
    expect(fieldOf({ ...base, warnBefore: ["P120D"] })).toBe("warnBefore.0");
  });

  it("windows that can leave a whole interval without opening", () => {
    const monthly = { ...base, schedule: { every: "P30D" }, expiresAfter: "P60D" };
    expect(fieldOf({ ...monthly, windows: [{ cron: "0 1 1 1 *", timeZone: "UTC", duration: "PT4H" }] })).toBe("windows");
    // Opens only on 29 February: four years between openings.
    expect(fieldOf({ ...base, schedule: { preset: "annual" }, expiresAfter: "P400D", windows: [{ cron: "0 1 29 2 *", timeZone: "UTC", duration: "PT4H" }] })).toBe("windows");
    expect(fieldOf({ ...monthly, windows: [{ cron: "0 1 1 1 *", timeZone: "UTC", duration: "PT0S" }] })).toBe("windows.0.duration");
  });

  it("freezes with unparseable instants or that end before they start", () => {
    expect(fieldOf({ ...base, freezes: [{ from: "next tuesday", to: "2027-01-03" }] })).toBe("freezes.0.from");
    expect(fieldOf({ ...base, freezes: [{ from: "2026-12-20T10:00:00", to: "2027-01-03" }] })).toBe("freezes.0.from");
    expect(fieldOf({ ...base, freezes: [{ from: "2026-12-20", to: "2026-02-30" }] })).toBe("freezes.0.to");
    expect(fieldOf({ ...base, freezes: [{ from: "2027-01-03T00:00:00Z", to: "2026-12-20T00:00:00Z" }] })).toBe("freezes.0.to");
  });

  it("kinds that are empty, unknown or repeated", () => {
    expect(fieldOf({ ...base, kinds: [] })).toBe("kinds");
    expect(fieldOf({ ...base, kinds: ["aes"] })).toBe("kinds.0");
    expect(fieldOf({ ...base, kinds: ["kek", "kek"] })).toBe("kinds");
  });

  it("secret generator options on a policy without secrets", () => {
    expect(fieldOf({ ...base, secret: { length: 32 } })).toBe("secret");
    expect(fieldOf({ ...base, kinds: ["secret"], secret: { length: 8 } })).toBe("secret.length");
  });

  it("bad identifiers, status and attempt counts", () => {
    expect(fieldOf({ ...base, policyId: "a/b" })).toBe("policyId");
    expect(fieldOf({ ...base, tenant: "con toso" })).toBe("tenant");
    expect(fieldOf({ ...base, status: "paused" })).toBe("status");
    expect(fieldOf({ ...base, maxAttempts: 0 })).toBe("maxAttempts");
  });
});
