// A branch-key rotation is one run over all its branch keys, whose long step (replace: each branch
// key created, then its DEKs re-wrapped) makes versions all along. Its lock grant is checked after
// each branch key, as it was after every step when each branch key was its own run: a lock taken
// over mid-step stops the run before the remaining branch keys are created, and nothing is
// destroyed. Real Azurite tables and the Key Vault peer; the fence store in memory.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { hierarchyBranchRotation } from "../../../lib/hierarchy/durableActivities";
import { claimFence, MemoryFenceStore } from "../../../lib/orchestration/fence";
import { freshDeps } from "../orchestration/fixtures";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

const SHARED = 48;

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: SHARED });
  const writer = new HierarchyDeks(h.keys, h.deks);
  for (let i = 0; i < 120; i++) await writer.create({ tenant: `tenant-${i}`, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
});
afterEach(() => stopHierarchy(h));

describe("a branch-key rotation's lock grant", () => {
  it("is checked after each branch key of the replace step: a takeover there stops the run before the rest are created, and no old version is destroyed", async () => {
    const branches = new Set((await h.store.all(h.kekKeyId)).map((r) => r.branchId)).size;
    // More branch keys than the step replaces at once (16), so some are still to start.
    expect(branches).toBeGreaterThan(24);
    const fences = new MemoryFenceStore();
    await claimFence(fences, h.kekKeyId, { owner: "rot-A", token: 1 });
    // Read 1: after the plan step. Read 2: the first save of the replace step, when another
    // rotation has taken the lock over.
    let reads = 0;
    const read = fences.read.bind(fences);
    fences.read = async (keyId) => {
      if (++reads === 2) await claimFence(fences, keyId, { owner: "rot-B", token: 2 });
      return read(keyId);
    };
    const deps = { ...freshDeps(), fences };
    const rt = { store: h.store, keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), sliceMs: 60_000, ratePerSec: 0 };

    await expect(hierarchyBranchRotation(deps, rt, { rotationId: "kek@manual:branch-fence", keyId: h.kekKeyId, kekVersion: h.kekVersion, actor: "alice", fence: { owner: "rot-A", token: 1 } })).rejects.toMatchObject({ code: "FencedOut" });

    const records = await h.store.all(h.kekKeyId);
    const created = records.filter((r) => r.version === 2).length;
    expect(created).toBeGreaterThan(0);
    expect(created).toBeLessThan(branches);
    // Every old version is still there: the run never reached its destroy step.
    expect(records.filter((r) => r.version === 1).length).toBe(branches);
  });
});
