// Properties of plan() over random policies, keys and instants. The window and freeze checks
// below are independent of the planner: croner directly, and the raw freeze strings.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Cron } from "croner";
import type { ManagedKey } from "../../../lib/domain/keys";
import { validatePolicy, type Policy } from "../../../lib/domain/policy";
import { plan } from "../../../lib/domain/planner";

const DAY = 86_400_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const T1 = Date.parse("2027-07-01T00:00:00Z");

const scheduleArb = fc.oneof(
  fc.constantFrom("P1D", "P7D", "P30D", "P1M", "P3M").map((every) => ({ every })),
  fc.record({
    cron: fc.constantFrom("30 2 * * *", "30 1 * * *", "0 3 * * 1", "15 4 1 * *", "0 0 1,15 * *"),
    timeZone: fc.constantFrom("UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"),
  }),
  fc.constantFrom("monthly", "quarterly").map((preset) => ({ preset })),
);
const windowArb = fc.record({
  cron: fc.constantFrom("0 22 * * 6", "0 1 * * *", "30 2 * * 0", "0 9-17 * * 1-5", "0 0 * * 3"),
  timeZone: fc.constantFrom("UTC", "Europe/London", "America/New_York"),
  duration: fc.constantFrom("PT1H", "PT4H", "PT30M"),
});

interface Case {
  nowMs: number;
  policy: Policy;
  keys: ManagedKey[];
}

const caseArb: fc.Arbitrary<Case | undefined> = fc
  .record({
    nowMs: fc.integer({ min: T0, max: T1 }),
    schedule: scheduleArb,
    windows: fc.array(windowArb, { maxLength: 2 }),
    freezes: fc.array(fc.record({ startDays: fc.integer({ min: -60, max: 60 }), hours: fc.integer({ min: 1, max: 24 * 20 }) }), { maxLength: 3 }),
    keys: fc.array(
      fc.record({
        anchorDays: fc.double({ min: -400, max: 1, noNaN: true }),
        lifeDays: fc.double({ min: 1, max: 500, noNaN: true }),
        rotated: fc.boolean(),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  })
  .map((r) => {
    const at = (ms: number) => new Date(ms).toISOString();
    let policy: Policy;
    try {
      policy = validatePolicy(
        {
          policyId: "p", tenant: "t1", kinds: ["kek", "secret"], schedule: r.schedule, expiresAfter: "P400D", rotateBefore: "P10D",
          windows: r.windows,
          freezes: r.freezes.map((f) => ({ from: at(r.nowMs + f.startDays * DAY), to: at(r.nowMs + f.startDays * DAY + f.hours * 3_600_000) })),
        },
        { now: new Date(r.nowMs) },
      );
    } catch {
      return undefined; // e.g. windows too sparse for a daily schedule: refused, not planned
    }
    const keys: ManagedKey[] = r.keys.map((k, i) => {
      const created = Math.round(r.nowMs + k.anchorDays * DAY);
      return {
        keyId: `kek:vault1/k${i}`, kind: "kek", tenant: "t1", policyId: "p", primaryVersion: "v1",
        versions: [{ version: "v1", state: "primary", createdAt: at(created), expiresAt: at(Math.round(created + k.lifeDays * DAY)) }],
        ...(k.rotated ? { lastRotatedAt: at(created + 60_000) } : {}),
      };
    });
    return { nowMs: r.nowMs, policy, keys };
  });

function frozen(p: Policy, t: number): boolean {
  return p.freezes.some((f) => Date.parse(f.from) <= t && t < Date.parse(f.to));
}
const crons = new Map<string, Cron>();
/** Inside a window iff the first opening after (t − duration) is at or before t. */
function inWindow(p: Policy, t: number): boolean {
  if (p.windows.length === 0) return true;
  return p.windows.some((w) => {
    const id = `${w.timeZone} ${w.cron}`;
    let cron = crons.get(id);
    if (!cron) crons.set(id, (cron = new Cron(w.cron, { timezone: w.timeZone, mode: "5-part", fixedTimeRule: "no-wildcard" })));
    const ms = { PT1H: 1, PT4H: 4, PT30M: 0.5 }[w.duration]! * 3_600_000;
    const open = cron.nextRun(new Date(t - ms));
    return open !== null && open.getTime() <= t;
  });
}

const settings = { numRuns: 100 };

describe("plan() properties", () => {
  it("never puts a scheduled rotation inside a freeze or outside a window", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        fc.pre(c !== undefined);
        for (const item of plan(new Date(c.nowMs), c.keys, [c.policy])) {
          const startsAt = item.dueNow ? c.nowMs : item.dueAt === undefined ? undefined : Date.parse(item.dueAt);
          if (startsAt === undefined) continue;
          expect(frozen(c.policy, startsAt), `${item.keyId} starts in a freeze at ${new Date(startsAt).toISOString()}`).toBe(false);
          expect(inWindow(c.policy, startsAt), `${item.keyId} starts outside windows at ${new Date(startsAt).toISOString()}`).toBe(true);
        }
      }),
      settings,
    );
  });

  it("never returns a past due time for a future slot, nor a due time before its slot", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        fc.pre(c !== undefined);
        for (const item of plan(new Date(c.nowMs), c.keys, [c.policy])) {
          if (!item.dueNow && item.dueAt !== undefined) expect(Date.parse(item.dueAt)).toBeGreaterThanOrEqual(c.nowMs);
          if (item.slot && item.slot !== "initial" && Date.parse(item.slot) > c.nowMs) {
            expect(item.dueNow).toBe(false);
            expect(Date.parse(item.dueAt!)).toBeGreaterThanOrEqual(Date.parse(item.slot));
          }
        }
      }),
      settings,
    );
  });

  it("is stable across repeated calls, fresh policy objects included", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        fc.pre(c !== undefined);
        const now = new Date(c.nowMs);
        const first = plan(now, c.keys, [c.policy]);
        expect(plan(now, c.keys, [c.policy])).toEqual(first);
        expect(plan(now, c.keys, [validatePolicy(JSON.parse(JSON.stringify(c.policy)), { now })])).toEqual(first);
      }),
      settings,
    );
  });

  it("keeps a future slot, and so its rotationId, until that slot comes", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: 0, max: 0.999, noNaN: true }), (c, fraction) => {
        fc.pre(c !== undefined);
        const items = plan(new Date(c.nowMs), c.keys, [c.policy]);
        items.forEach((item, i) => {
          if (!item.slot || item.slot === "initial" || Date.parse(item.slot) <= c.nowMs) return;
          const later = c.nowMs + Math.floor((Date.parse(item.slot) - c.nowMs) * fraction);
          expect(plan(new Date(later), [c.keys[i]!], [c.policy])[0]!.rotationId).toBe(item.rotationId);
        });
      }),
      settings,
    );
  });
});
