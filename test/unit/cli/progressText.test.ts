// The progress bar of `status --watch` shows the API's rate and ETA, or a dash: never "0/s" for a
// rate not yet measured, and never cli-progress's NULL/INF placeholders.
import { describe, expect, it } from "vitest";
import { etaText, rateText } from "../../../lib/cli/format";

describe("progress bar rate and ETA", () => {
  it.each([
    [undefined, "-/s"], [0, "-/s"], [Number.NaN, "-/s"], [-3, "-/s"], [0.44, "0.4/s"], [7.25, "7.3/s"], [412.6, "413/s"],
  ])("rate %s reads %s", (perSec, text) => {
    expect(rateText(perSec)).toBe(text);
  });

  it.each([
    [undefined, "eta -"], ["not a date", "eta -"], ["2026-03-01T00:00:09.400Z", "eta 9s"], ["2026-03-01T00:02:05Z", "eta 2m05s"],
    ["2026-03-01T03:07:00Z", "eta 3h07m"], ["2026-02-28T23:59:00Z", "eta 0s"],
  ])("ETA %s reads %s", (eta, text) => {
    expect(etaText(eta, Date.parse("2026-03-01T00:00:00Z"))).toBe(text);
  });
});
