// migrateFlat moving a tenant's format-1 DEKs under branch keys while that tenant's DEK rotation
// (locked on dek:<tenant>, not on the KEK) makes a newer format-2 primary: the migrated primary must
// not take the pointer back, and only one row stays primary. The interleaving is forced by a DEK
// store that runs the rotation while the migration holds its page; Azurite and the Key Vault peer.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWrappedDek } from "../../../lib/envelope/dekRecord";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import type { HierarchyDekRecord } from "../../../lib/hierarchy/records";
import { migrateFlat, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

describe("a flat migration racing a tenant's DEK rotation", () => {
  it("leaves the pointer on the rotation's newer DEK: the migrated primary becomes secondary, one row primary, every DEK resolves", async () => {
    // The KEK has branch keys already (another tenant); t-f has flat DEKs v1 (secondary) and v2 (primary).
    await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-other", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const kek = kekFromVaults(() => h.vault);
    for (const v of [1, 2]) await h.flat.addPrimary(await createWrappedDek({ tenant: "t-f", dekVersion: v, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion }, kek, new Date()));
    const writer = new HierarchyDeks(h.keys, h.deks);
    let rotated = false;
    class RotatingMidway extends HierarchyDekStore {
      override async putMany(tenant: string, records: readonly HierarchyDekRecord[]): Promise<void> {
        // The tenant's DEK rotation runs while the migration holds its page: v3 becomes primary.
        if (tenant === "t-f" && !rotated) {
          rotated = true;
          await writer.create({ tenant: "t-f", dekVersion: 3, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, rotationRun: "dek:t-f@q4" });
        }
        return super.putMany(tenant, records);
      }
    }
    const d: HierarchyDeps = { keys: h.keys, deks: new RotatingMidway(h.dekTable), kek, flat: h.flat, flatTable: h.flatTable };
    const st = await migrateFlat(d, { runId: "mig-1", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect(st.done).toBe(true);
    expect(rotated).toBe(true);

    expect(await h.deks.getPrimary("t-f")).toMatchObject({ dekVersion: 3 });
    const rows = (await h.deks.scan("t-f")).items;
    expect(rows.map((r) => `v${r.dekVersion}:${r.state}`).sort()).toEqual(["v1:secondary", "v2:secondary", "v3:primary"]);
    const resolver = new HierarchyDekResolver(h.deks, h.keys);
    for (const v of [1, 2, 3]) await expect(resolver.resolve("t-f", v)).resolves.toBeDefined();
    await expect(resolver.primary("t-f")).resolves.toMatchObject({ record: { dekVersion: 3 } });
  });

  it("moves the pointer to the migrated primary when the tenant has no format-2 primary yet", async () => {
    await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-other", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const kek = kekFromVaults(() => h.vault);
    for (const v of [1, 2]) await h.flat.addPrimary(await createWrappedDek({ tenant: "t-f", dekVersion: v, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion }, kek, new Date()));
    const st = await migrateFlat({ keys: h.keys, deks: h.deks, kek, flat: h.flat, flatTable: h.flatTable }, { runId: "mig-2", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect(st.done).toBe(true);
    expect(await h.deks.getPrimary("t-f")).toMatchObject({ dekVersion: 2, state: "primary" });
  });
});
