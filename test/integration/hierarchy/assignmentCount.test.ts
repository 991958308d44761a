// Branch keys are created only for the configured count of shared keys (or a dedicated key when
// isolation is asked): a tenant's assignment row naming any other branch key must point at an
// existing signed record of the KEK, so an edited row (say `s1-00000`, which every tenant's index
// of 1 matches) cannot make keyrotor create, sign and then trust one key for every tenant. Real Key
// Vault peer (sign, unwrap) and Azurite.
import { afterEach, describe, expect, it } from "vitest";
import { sharedIndexFor } from "../../../lib/domain/branchKeys";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { BranchKeys } from "../../../lib/hierarchy/branchKeys";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { vaultSigner } from "../../../lib/hierarchy/signer";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy | undefined;
afterEach(async () => {
  await stopHierarchy(h);
  h = undefined;
});

const apk = (kek: string) => `a|${kek.replace(/\//g, "%2f")}`;

async function setAssignment(hh: Hierarchy, tenant: string, branchId: string): Promise<void> {
  await hh.branchTable.updateEntity({ partitionKey: apk(hh.kekKeyId), rowKey: tenant, branchId }, "Merge");
}

/** Branch ids with at least one version row. */
async function branchIds(hh: Hierarchy): Promise<string[]> {
  const ids = new Set<string>();
  for await (const e of hh.branchTable.listEntities<{ branchId?: string }>()) if (String(e.partitionKey).startsWith("b|")) ids.add(String(e.branchId));
  return [...ids].sort();
}

const signs = (hh: Hierarchy) => hh.peer.admin.stats().calls.sign ?? 0;

describe("branch keys are created only for the configured count", () => {
  it("assignments edited to name a shared key of another count that does not exist (s1-00000) are refused as BranchAssignmentForged: no key is created or signed, no DEK written", async () => {
    const hh = (h = await startHierarchy({ sharedBranches: 256 }));
    const w = new HierarchyDeks(hh.keys, hh.deks);
    const a1 = await w.create({ tenant: "t-a", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    const b1 = await w.create({ tenant: "t-b", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    await setAssignment(hh, "t-a", "s1-00000");
    await setAssignment(hh, "t-b", "s1-00000");
    const before = { ids: await branchIds(hh), signs: signs(hh) };

    await expect(w.create({ tenant: "t-a", dekVersion: 2, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });
    await expect(w.create({ tenant: "t-b", dekVersion: 2, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });

    expect(await branchIds(hh)).toEqual(before.ids);
    expect(before.ids).not.toContain("s1-00000");
    expect(signs(hh)).toBe(before.signs);
    expect((await hh.deks.getPrimary("t-a"))?.branchId).toBe(a1.branchId);
    expect((await hh.deks.getPrimary("t-b"))?.branchId).toBe(b1.branchId);
  });

  it("an assignment edited to the tenant's own dedicated key, never created and not asked for, is refused; asked for (isolated), it is created", async () => {
    const hh = (h = await startHierarchy({ sharedBranches: 4 }));
    const w = new HierarchyDeks(hh.keys, hh.deks);
    await w.create({ tenant: "t-a", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    await setAssignment(hh, "t-a", "d-t-a");
    await expect(w.create({ tenant: "t-a", dekVersion: 2, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });
    expect(await branchIds(hh)).not.toContain("d-t-a");

    const iso = await w.create({ tenant: "t-iso", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion, isolated: true });
    expect(iso.branchId).toBe("d-t-iso");
  });

  it("a tenant assigned under a count configured earlier keeps its existing signed key after the count changes, and new tenants get keys of the new count", async () => {
    const hh = (h = await startHierarchy({ sharedBranches: 4 }));
    await new HierarchyDeks(hh.keys, hh.deks).create({ tenant: "t-old", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    const oldBranch = `s4-${String(sharedIndexFor("t-old", 4)).padStart(5, "0")}`;
    const recounted = new BranchKeys(hh.store, kekFromVaults(() => hh.vault), vaultSigner(hh.signingKeyId, hh.vault), { sharedBranches: 16 });
    const w = new HierarchyDeks(recounted, hh.deks);
    const again = await w.create({ tenant: "t-old", dekVersion: 2, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    expect(`${again.branchId}#${again.branchVersion}`).toBe(`${oldBranch}#1`);
    const fresh = await w.create({ tenant: "t-new", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    expect(fresh.branchId).toBe(`s16-${String(sharedIndexFor("t-new", 16)).padStart(5, "0")}`);
  });

  it("an assignment edited to a key of an earlier count that was never made is refused, though other keys of that count exist", async () => {
    const hh = (h = await startHierarchy({ sharedBranches: 4 }));
    // Under count 4, "t-x" made its key; then the count becomes 16.
    await new HierarchyDeks(hh.keys, hh.deks).create({ tenant: "t-x", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    const recounted = new BranchKeys(hh.store, kekFromVaults(() => hh.vault), vaultSigner(hh.signingKeyId, hh.vault), { sharedBranches: 16 });
    const w = new HierarchyDeks(recounted, hh.deks);
    // A tenant whose row is edited to a count-4 key that does not exist yet (another index of 4).
    let t = "t-y0";
    for (let i = 1; sharedIndexFor(t, 4) === sharedIndexFor("t-x", 4); i++) t = `t-y${i}`;
    await w.create({ tenant: t, dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    await setAssignment(hh, t, `s4-${String(sharedIndexFor(t, 4)).padStart(5, "0")}`);
    await expect(w.create({ tenant: t, dekVersion: 2, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });
  });
});
