// The flow's view of hierarchy slices: each answers its run's running totals, so the latest answer
// per run counts, summed across runs.
import { describe, expect, it } from "vitest";
import { RunCounts } from "../../../lib/orchestration/flows/branchKeys";

describe("RunCounts", () => {
  it("counts a run that took several slices once (its latest answer), and sums distinct runs", () => {
    const c = new RunCounts();
    c.add({ run: "r~a", counts: { branchKeysCreated: 1 } });
    c.add({ run: "r~a", counts: { branchKeysCreated: 1, dekRowsWritten: 4 } });
    c.add({ run: "r~a", counts: { branchKeysCreated: 1, dekRowsWritten: 4, branchKeysDestroyed: 1 } });
    c.add({ run: "r~b", counts: { branchKeysCreated: 1, dekRowsWritten: 6, branchKeysDestroyed: 1 } });
    expect(c.total).toEqual({ branchKeysCreated: 2, dekRowsWritten: 10, branchKeysDestroyed: 2 });
  });

  it("sums answers that name no run (recorded before slices named theirs), as the flow did then", () => {
    const c = new RunCounts();
    c.add({ counts: { dekRowsWritten: 2 } });
    c.add({ counts: { dekRowsWritten: 3 } });
    expect(c.total).toEqual({ dekRowsWritten: 5 });
  });
});
