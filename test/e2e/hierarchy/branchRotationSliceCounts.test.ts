// A hierarchy slice answers its run's RUNNING totals, so a branch key whose rotation takes several
// slices reports the same rows more than once; the flow keeps the latest answer per run (the answer
// names its run) and sums across runs, so the recorded counts are the work done. A run's last step
// never ends a slice, so its drop-cached-keys events are recorded however small the slices.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import { type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite } from "../rotation/stack";
import { dekRows, startHierarchyStack, undecryptable } from "./hierarchyFlowSupport";

const suite = stackSuite();

describe("branch-key rotation counts across slices", () => {
  it("a run forced into many slices reports dekRowsWritten equal to the number of DEKs, one creation and one destruction per branch key, and every branch key's drop event", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d"], isolated: ["t-iso"], sharedBranches: 2, compose: { hierarchy: { sliceMs: 0 } } });
    const deks = (await dekRows(h)).size;
    const branches = new Set((await h.rt.store.all(h.kek.keyId)).map((r) => r.branchId)).size;
    const rotationId = `${h.kek.keyId}@manual:branch-sliced`;
    const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice", branchKeys: true });
    const out = (await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    // The rotation's one run over every branch key, in more than two slices (plan | replace | destroy):
    // its running totals are answered several times and must count once.
    const history = JSON.stringify(await h.s.host.client.getStatus(started.instanceId, { showHistory: true }));
    expect(history.split(`"${DURABLE.activities.hierarchyBranchRotation}"`).length - 1).toBeGreaterThan(2);
    expect(out.counts).toMatchObject({ "hierarchy.dekRowsWritten": deks, "hierarchy.branchKeysCreated": branches, "hierarchy.branchKeysDestroyed": branches });
    const entries = (await ledgerEntries(h.s, h.kek.keyId)) as { type: string; rotationId?: string; counts?: Record<string, number>; details?: Record<string, unknown> }[];
    const mine = entries.filter((e) => e.rotationId === rotationId);
    expect(mine.find((e) => e.details?.hierarchy === "branch-rotation" && e.type === "RewrapProgress")?.counts).toMatchObject({ dekRowsWritten: deks, branchKeysCreated: branches });
    const drops = mine.filter((e) => e.details?.dropCachedKeys === true && typeof e.details.branchIds === "string");
    expect(new Set(drops.flatMap((e) => String(e.details!.branchIds).split(","))).size).toBe(branches);
    expect(await undecryptable(h)).toEqual([]);
  });
});
