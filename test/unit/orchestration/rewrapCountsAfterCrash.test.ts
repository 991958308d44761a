// The rotation's final rewrap counts come from the reference count taken after the last pass, so a
// range result lost to a crash (its re-run finds its DEKs already under the new version) still counts.
import { describe, expect, it } from "vitest";
import { addTotals, countsAfterRewrap, zeroTotals } from "../../../lib/orchestration/rewrap";

describe("countsAfterRewrap", () => {
  it("counts DEKs found under the new version without a counted write as alreadyCurrent: rewrapped = rewrappedNow + alreadyCurrent = total", () => {
    const ranges = addTotals(zeroTotals(), { rewrapped: 650, scanned: 1000, skipped: 350, ranges: 3 });
    const c = countsAfterRewrap(ranges, 1000, 0);
    expect(c).toMatchObject({ rewrapped: 1000, rewrappedNow: 650, alreadyCurrent: 350, total: 1000, remainingOld: 0, scanned: 1000, ranges: 3 });
  });

  it("DEKs still under older versions are not counted as done", () => {
    const c = countsAfterRewrap(addTotals(zeroTotals(), { rewrapped: 600, unreadable: 2 }), 1000, 2);
    expect(c).toMatchObject({ rewrapped: 998, rewrappedNow: 600, alreadyCurrent: 398, total: 1000, remainingOld: 2 });
  });

  it("never reports fewer than the ranges wrote (DEKs that arrived under an old version during the rotation), and total is at least rewrapped", () => {
    const c = countsAfterRewrap(addTotals(zeroTotals(), { rewrapped: 1010 }), 1000, 0);
    expect(c).toMatchObject({ rewrapped: 1010, rewrappedNow: 1010, alreadyCurrent: 0, total: 1010 });
  });

  it("a rewrap with nothing to do reports zeros", () => {
    expect(countsAfterRewrap(zeroTotals(), 0, 0)).toMatchObject({ rewrapped: 0, rewrappedNow: 0, alreadyCurrent: 0, total: 0, remainingOld: 0 });
  });
});
