// A branch-key rotation is one run whose checkpoint holds its whole plan (every asked branch key,
// like an emergency's): a KEK with thousands of dedicated branch keys makes a checkpoint longer than
// the 32K characters one Table string property holds. BranchKeyStore splits it over several
// properties; real Azurite (which refuses an oversized property as Azure does).
import { describe, expect, it } from "vitest";
import { BranchKeyStore } from "../../../lib/hierarchy/branchKeyStore";
import { freshTable } from "../../support/tables";

describe("a run checkpoint with the plan of a branch-key rotation of 3,000 branch keys", () => {
  it("is saved and read back whole, replaced by a longer and then a shorter state under If-Match", async () => {
    const store = new BranchKeyStore(await freshTable("branchkeys"));
    const plan = (n: number) => Array.from({ length: n }, (_, i) => ({ branchId: `d-tenant-${String(i).padStart(5, "0")}`, from: [1], to: 2 }));
    const big = { runId: "r1", step: "replace", plan: plan(3000), replaced: 0 };
    expect(JSON.stringify(big).length).toBeGreaterThan(100_000);
    const etag = await store.saveRun("r1", big);
    expect((await store.run("r1"))?.state).toEqual(big);

    const bigger = { ...big, plan: plan(4000), replaced: 1200 };
    const etag2 = await store.saveRun("r1", bigger, etag);
    expect((await store.run("r1"))?.state).toEqual(bigger);

    const small = { runId: "r1", step: "done", plan: plan(2), replaced: 2 };
    await store.saveRun("r1", small, etag2);
    expect((await store.run("r1"))?.state).toEqual(small);
    // The If-Match still holds: a save with the older ETag loses.
    await expect(store.saveRun("r1", big, etag)).rejects.toThrow();
  });
});
