import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import fc from "fast-check";
import { addDuration, cronTimeline, durationBounds, iso as formatIso, mergeFreezes, parseDuration, parseInstant } from "../../../lib/domain/schedule";

const ms = (s: string) => Date.parse(s);
const iso = (n: number | undefined) => (n === undefined ? undefined : new Date(n).toISOString());

describe("ISO-8601 durations", () => {
  it("parse into calendar parts and a fixed part", () => {
    expect(parseDuration("P1Y2M3W4DT5H6M7.5S", "x")).toMatchObject({ years: 1, months: 2, ms: ((3 * 7 + 4) * 24 + 5) * 3_600_000 + 6 * 60_000 + 7_500 });
  });
  it("refuse empty, negative, fractional calendar parts and non-strings, naming the field", () => {
    for (const bad of ["P", "PT", "-P1D", "P1.5M", "P1D2H", "", 90, null]) {
      expect(() => parseDuration(bad, "expiresAfter")).toThrow(InvalidRequestError);
    }
    try {
      parseDuration("P1X", "schedule.every");
    } catch (err) {
      expect((err as InvalidRequestError).field).toBe("schedule.every");
    }
  });
  it("bound calendar parts by their shortest and longest lengths", () => {
    expect(durationBounds(parseDuration("P1M", "x"))).toEqual({ minMs: 28 * 86_400_000, maxMs: 31 * 86_400_000 });
  });
  it("add months in UTC, clamping to the month's end, with slot k computed in one step", () => {
    const every = parseDuration("P1M", "x");
    expect(iso(addDuration(ms("2026-01-31T02:00:00Z"), every))).toBe("2026-02-28T02:00:00.000Z");
    expect(iso(addDuration(ms("2026-01-31T02:00:00Z"), every, 2))).toBe("2026-03-31T02:00:00.000Z");
    expect(iso(addDuration(ms("2026-03-31T00:00:00Z"), every, -1))).toBe("2026-02-28T00:00:00.000Z");
    expect(iso(addDuration(ms("2024-02-29T00:00:00Z"), parseDuration("P1Y", "x")))).toBe("2025-02-28T00:00:00.000Z");
  });
});

describe("instants", () => {
  it("accept instants with an offset and bare dates (a bare end date covers its whole day)", () => {
    expect(parseInstant("2026-12-24T18:00:00+01:00", "f")).toBe(ms("2026-12-24T17:00:00Z"));
    expect(parseInstant("2026-12-24", "f")).toBe(ms("2026-12-24T00:00:00Z"));
    expect(parseInstant("2026-12-24", "f", { endOfDate: true })).toBe(ms("2026-12-25T00:00:00Z"));
  });
  it("refuse local times without an offset and impossible dates", () => {
    expect(() => parseInstant("2026-12-24T18:00:00", "f")).toThrow(InvalidRequestError);
    expect(() => parseInstant("2026-02-30", "f")).toThrow(InvalidRequestError);
  });
});

describe("freezes", () => {
  it("merge when they overlap or touch", () => {
    const merged = mergeFreezes([
      { fromMs: 50, toMs: 60 }, { fromMs: 0, toMs: 10 }, { fromMs: 10, toMs: 20 }, { fromMs: 15, toMs: 18 },
    ]);
    expect(merged).toEqual([{ fromMs: 0, toMs: 20 }, { fromMs: 50, toMs: 60 }]);
  });
});

describe("cron timelines across DST", () => {
  const runs = (pattern: string, tz: string, from: string, n: number) => {
    const tl = cronTimeline(pattern, tz, "schedule.cron", ms(from));
    const out: string[] = [];
    let t = ms(from);
    for (let i = 0; i < n; i++) {
      t = tl.nextAfter(t)!;
      out.push(iso(t)!);
    }
    return out;
  };

  it("02:30 in Europe/London keeps its wall-clock time on both change days (London's gap and repeat are 01:00-02:00)", () => {
    expect(runs("30 2 * * *", "Europe/London", "2026-03-28T12:00:00Z", 2)).toEqual(["2026-03-29T01:30:00.000Z", "2026-03-30T01:30:00.000Z"]);
    expect(runs("30 2 * * *", "Europe/London", "2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T02:30:00.000Z", "2026-10-26T02:30:00.000Z"]);
  });

  it("02:30 in America/New_York fires at 03:00 EDT on the day 02:30 does not exist, once on the fall-back day", () => {
    expect(runs("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2)).toEqual(["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"]);
    expect(runs("30 2 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual(["2026-11-01T07:30:00.000Z", "2026-11-02T07:30:00.000Z"]);
  });

  it("a repeated wall-clock time (01:30 on fall-back day) fires once, at its first occurrence", () => {
    expect(runs("30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    expect(runs("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
  });

  it("a skipped wall-clock time (01:30 on London's spring-forward day) fires at the jump", () => {
    expect(runs("30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", 2)).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
  });
});

describe("cron timelines", () => {
  const tl = cronTimeline("0 2 1 1,4,7,10 *", "UTC", "schedule.preset", ms("2026-11-22T00:00:00Z"));

  it("answer before and after where they started, in both directions", () => {
    expect(iso(tl.nextAfter(ms("2020-02-01T00:00:00Z")))).toBe("2020-04-01T02:00:00.000Z");
    expect(iso(tl.latestAtOrBefore(ms("2031-05-01T00:00:00Z")))).toBe("2031-04-01T02:00:00.000Z");
    expect(iso(tl.latestAtOrBefore(ms("2026-10-01T02:00:00Z")))).toBe("2026-10-01T02:00:00.000Z");
    expect(iso(tl.nextAfter(ms("2026-10-01T02:00:00Z")))).toBe("2027-01-01T02:00:00.000Z");
  });

  it("count the slots passed since an anchor as none, one, or more than one", () => {
    expect(tl.occurrencesBetween(ms("2026-10-02T00:00:00Z"), ms("2026-11-22T00:00:00Z"))).toEqual({ count: 0 });
    expect(tl.occurrencesBetween(ms("2026-09-02T00:00:00Z"), ms("2026-11-22T00:00:00Z"))).toMatchObject({ count: 1, latest: ms("2026-10-01T02:00:00Z") });
    expect(tl.occurrencesBetween(ms("2015-09-02T00:00:00Z"), ms("2026-11-22T00:00:00Z"))).toMatchObject({ count: 2, latest: ms("2026-10-01T02:00:00Z") });
  });

  it("are shared per pattern and time zone", () => {
    expect(cronTimeline("0 2 1 1,4,7,10 *", "UTC", "x")).toBe(tl);
  });
});

describe("instant formatting", () => {
  it("matches Date#toISOString for every instant", () => {
    fc.assert(fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (t) => formatIso(t) === new Date(t).toISOString()), { numRuns: 2000 });
    for (const t of [0, Date.UTC(1000, 0, 1), Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2100, 2, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)]) {
      expect(formatIso(t)).toBe(new Date(t).toISOString());
    }
  });
});
