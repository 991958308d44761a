// The proof before old branch-key versions are destroyed (invariant 2): countBelow counts the DEKs
// of a KEK still under a version below each planned target, in one query, whether the filter names
// each branch key (few) or asks for versions below the highest target and sorts rows out (many).
// Against Azurite's real OData filter evaluation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { branchIdOf } from "../../../lib/domain/branchKeys";
import { dekIdFor } from "../../../lib/envelope/dekRecord";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "../../../lib/hierarchy/records";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeAll(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterAll(() => stopHierarchy(h));

const SLOTS = 16;
const branch = (slot: number) => branchIdOf({ kind: "shared", index: slot, count: SLOTS });

/** One tenant per slot; tenant i has DEKs under versions 1..(i % 3 + 1) of its branch key, two each;
 * plus rows of another KEK under version 1 that no count of this KEK may see. */
async function seed(): Promise<void> {
  for (let slot = 0; slot < SLOTS; slot++) {
    const tenant = `leftover${slot}`;
    const rows: HierarchyDekRecord[] = [];
    let v = 0;
    for (let bv = 1; bv <= (slot % 3) + 1; bv++) {
      for (let k = 0; k < 2; k++) {
        v++;
        rows.push({ format: DEK_FORMAT_2, tenant, dekId: dekIdFor(v), dekVersion: v, kekKeyId: h.kekKeyId, branchId: branch(slot), branchVersion: bv, alg: "A256GCM", wrapped: "AAAA", createdAt: "2026-01-01T00:00:00Z", state: "secondary" });
      }
    }
    await h.deks.putMany(tenant, rows);
    await h.deks.putMany(`other${slot}`, [{ format: DEK_FORMAT_2, tenant: `other${slot}`, dekId: dekIdFor(1), dekVersion: 1, kekKeyId: "kek:othervault/other-kek", branchId: branch(slot), branchVersion: 1, alg: "A256GCM", wrapped: "AAAA", createdAt: "2026-01-01T00:00:00Z", state: "secondary" }]);
  }
}

/** What countBelow must answer, computed from the seed's rule. */
function expected(below: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (let slot = 0; slot < SLOTS; slot++) {
    const limit = below.get(branch(slot));
    if (limit === undefined) continue;
    for (let bv = 1; bv <= (slot % 3) + 1; bv++) if (bv < limit) out.set(`${branch(slot)}#${bv}`, 2);
  }
  return out;
}

describe("countBelow: DEKs left under old branch-key versions", () => {
  beforeAll(seed);

  it("with a few planned branch keys, counts exactly their rows below each target, none of another KEK's", async () => {
    const below = new Map([[branch(2), 3], [branch(4), 2], [branch(7), 1]]);
    const counts = await h.deks.countBelow(h.kekKeyId, below);
    expect(counts).toEqual(expected(below));
    expect(counts.get(`${branch(2)}#1`)).toBe(2);
  });

  it("with many planned branch keys (the emergency's coarse filter), counts only planned branch keys below their own targets, though other branch keys have rows below the highest target", async () => {
    // 10 of 16 planned, targets 2..4: unplanned slots have rows under versions 1..3, below the highest
    // target, and must not be counted; nor may planned rows at or above their own target.
    const below = new Map(Array.from({ length: 10 }, (_, i) => [branch(i), 2 + (i % 3)] as [string, number]));
    const counts = await h.deks.countBelow(h.kekKeyId, below);
    expect(counts).toEqual(expected(below));
    expect([...counts.keys()].some((k) => k.startsWith(branch(12)))).toBe(false);
  });

  it("answers an empty map when nothing is left, and when nothing is planned", async () => {
    expect(await h.deks.countBelow(h.kekKeyId, new Map(Array.from({ length: 12 }, (_, i) => [branch(i), 1] as [string, number])))).toEqual(new Map());
    expect(await h.deks.countBelow(h.kekKeyId, new Map())).toEqual(new Map());
  });
});
