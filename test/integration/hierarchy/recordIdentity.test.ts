// A record is what its row says it is: a signed branch-key record or an authenticated DEK copied
// by a table writer to another row (another version, another branch key, another tenant) is
// refused as forged on read, never used, and a rotation meeting one stops before it creates or
// destroys anything. Real Key Vault peer (sign, unwrap) and Azurite.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { branchRowKey, sharedIndexFor } from "../../../lib/domain/branchKeys";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { PRIMARY_ROW } from "../../../lib/hierarchy/dekStore";
import { rotateBranchKey, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

const bpk = (kek: string) => `b|${kek.replace(/\//g, "%2f")}`;

function deps(): HierarchyDeps {
  return {
    keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), flat: h.flat, flatTable: h.flatTable,
    revokeKekVersion: async (_k, v) => {
      await h.vault.updateVersion("tenant-kek", v, { enabled: false });
    },
  };
}

/** Every branch-key row as stored: partition, row key and what the record inside says. */
async function branchRows(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of h.branchTable.listEntities<{ branchId?: string; version?: number }>()) {
    if (String(e.partitionKey).startsWith("b|")) out.push(`${e.rowKey} holds ${e.branchId}#${e.version}`);
  }
  return out.sort();
}

describe("branch-key records are read only from their own row", () => {
  it("a signed record copied to another branch key's version row is refused as BranchRecordMisplaced by get, versions and all", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const a = await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const iso = await writer.create({ tenant: "t-iso", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: true });
    const { etag: _e, ...isoRow } = (await h.store.get(h.kekKeyId, iso.branchId, 1))!;
    await h.branchTable.createEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey(a.branchId, 2), ...isoRow });

    await expect(h.store.get(h.kekKeyId, a.branchId, 2)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
    await expect(h.store.versions(h.kekKeyId, a.branchId)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
    await expect(h.store.all(h.kekKeyId)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
    // The rows in their own places still read.
    expect((await h.store.get(h.kekKeyId, a.branchId, 1))?.branchId).toBe(a.branchId);
  });

  it("a signed record copied to its own branch key's next version row (same branch id, other version) is refused", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const a = await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const { etag: _e, ...row } = (await h.store.get(h.kekKeyId, a.branchId, 1))!;
    await h.branchTable.createEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey(a.branchId, 7), ...row });
    await expect(h.store.get(h.kekKeyId, a.branchId, 7)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
  });

  it("a signed record copied into another KEK's partition is refused there", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const a = await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const { etag: _e, ...row } = (await h.store.get(h.kekKeyId, a.branchId, 1))!;
    const other = h.kekKeyId.replace("tenant-kek", "other-kek");
    await h.branchTable.createEntity({ partitionKey: bpk(other), rowKey: branchRowKey(a.branchId, 1), ...row });
    await expect(h.store.get(other, a.branchId, 1)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
    await expect(h.store.all(other)).rejects.toMatchObject({ code: "BranchRecordMisplaced" });
  });

  it("a branch-key rotation meeting a record copied to another row stops at its plan: nothing created, nothing destroyed, the tenant's DEK still decrypts", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const a = await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const iso = await writer.create({ tenant: "t-iso", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: true });
    const { etag: _e, ...isoRow } = (await h.store.get(h.kekKeyId, iso.branchId, 1))!;
    await h.branchTable.createEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey(a.branchId, 2), ...isoRow });
    const before = await branchRows();

    await expect(rotateBranchKey(deps(), { runId: "br-1", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId: a.branchId }))
      .rejects.toMatchObject({ code: "BranchRecordMisplaced" });

    expect(await branchRows()).toEqual(before);
    const dek = (await h.deks.get("t-a", "v00000001"))!;
    expect(`${dek.branchId}#${dek.branchVersion}`).toBe(`${a.branchId}#1`);
    const resolved = await new HierarchyDekResolver(h.deks, h.keys).resolve("t-a", 1);
    expect(resolved.record).toMatchObject({ branchId: a.branchId, branchVersion: 1 });
  });
});

describe("DEKs are served only for the tenant and version their row says", () => {
  async function twoTenants(): Promise<void> {
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await writer.create({ tenant: "t-b", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
  }

  it("a tenant's DEK row copied into another tenant's partition as its new primary is refused (DekRecordMisplaced), by version and as primary", async () => {
    await twoTenants();
    const { etag: _e, ...row } = (await h.deks.get("t-a", "v00000001"))!;
    await h.dekTable.upsertEntity({ partitionKey: "t-b", rowKey: "v00000002", ...row }, "Replace");
    await h.dekTable.upsertEntity({ partitionKey: "t-b", rowKey: PRIMARY_ROW, primaryDekId: "v00000002", primaryVersion: 2 }, "Replace");

    await expect(h.deks.get("t-b", "v00000002")).rejects.toMatchObject({ code: "DekRecordMisplaced" });
    await expect(new HierarchyDekResolver(h.deks, h.keys).primary("t-b")).rejects.toMatchObject({ code: "DekRecordMisplaced" });
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve("t-b", 2)).rejects.toMatchObject({ code: "DekRecordMisplaced" });
    // t-a's own DEK is untouched.
    expect((await new HierarchyDekResolver(h.deks, h.keys).resolve("t-a", 1)).record.dekVersion).toBe(1);
  });

  it("a copied row whose tenant and version were edited to match its new place fails authentication (the AAD binds them): DekWrapInvalid", async () => {
    // A second tenant under the same shared branch key: only the AAD stands between them.
    let mate = "mate0";
    for (let i = 1; sharedIndexFor(mate, 2) !== sharedIndexFor("t-a", 2); i++) mate = `mate${i}`;
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await writer.create({ tenant: mate, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const { etag: _e, ...row } = (await h.deks.get("t-a", "v00000001"))!;
    await h.dekTable.upsertEntity({ partitionKey: mate, rowKey: "v00000002", ...row, tenant: mate, dekVersion: 2, dekId: "v00000002" }, "Replace");
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve(mate, 2)).rejects.toMatchObject({ code: "DekWrapInvalid" });
  });

  it("a DEK row copied to another version's row of the same tenant is refused for that version", async () => {
    await twoTenants();
    const { etag: _e, ...row } = (await h.deks.get("t-a", "v00000001"))!;
    await h.dekTable.upsertEntity({ partitionKey: "t-a", rowKey: "v00000005", ...row }, "Replace");
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve("t-a", 5)).rejects.toMatchObject({ code: "DekRecordMisplaced" });
  });

  it("a primary pointer naming an off-chain row (a copy of the tenant's own DEK under another row key) is refused", async () => {
    await twoTenants();
    const { etag: _e, ...row } = (await h.deks.get("t-a", "v00000001"))!;
    await h.dekTable.upsertEntity({ partitionKey: "t-a", rowKey: "planted", ...row }, "Replace");
    await h.dekTable.upsertEntity({ partitionKey: "t-a", rowKey: PRIMARY_ROW, primaryDekId: "planted", primaryVersion: 1 }, "Replace");
    await expect(new HierarchyDekResolver(h.deks, h.keys).primary("t-a")).rejects.toMatchObject({ code: "DekRecordMisplaced" });
  });

  it("the primary pointer naming a DEK that is not in state primary is refused (DekNotPrimary), as the flat resolver does", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await writer.create({ tenant: "t-a", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect((await h.deks.get("t-a", "v00000001"))?.state).toBe("secondary");
    await h.dekTable.upsertEntity({ partitionKey: "t-a", rowKey: PRIMARY_ROW, primaryDekId: "v00000001", primaryVersion: 1 }, "Replace");
    await expect(new HierarchyDekResolver(h.deks, h.keys).primary("t-a")).rejects.toMatchObject({ code: "DekNotPrimary" });
    // Decrypting under the secondary DEK still works.
    expect((await new HierarchyDekResolver(h.deks, h.keys).resolve("t-a", 1)).record.dekVersion).toBe(1);
  });
});
