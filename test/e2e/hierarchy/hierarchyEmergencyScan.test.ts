// The emergency's one-pass re-wrap over more than one page of DEKs: crashed after some pages were
// written and checkpointed, the resumed run starts from the checkpoint and writes each DEK once.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { branchIdOf, sharedIndexFor } from "../../../lib/domain/branchKeys";
import { dekIdFor } from "../../../lib/envelope/dekRecord";
import { kekFromVaults } from "../../../lib/envelope/kek";
import type { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import { unwrapDek, wrapDek } from "../../../lib/hierarchy/dekWrap";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "../../../lib/hierarchy/records";
import { emergency } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeAll(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterAll(() => stopHierarchy(h));

const TENANTS = 12;
const PER_TENANT = 200; // 2,400 DEKs: three pages of the scan

it("an emergency crashed mid-scan resumes from its checkpointed page: 2,400 DEKs each written once, all under the new branch keys, all unwrapping", async () => {
  const plain = new Map<string, Buffer>();
  for (let slot = 0; slot < 2; slot++) {
    const branchId = branchIdOf({ kind: "shared", index: slot, count: 2 });
    const { key } = await h.keys.create({ kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId, version: 1, state: "primary" });
    plain.set(branchId, key!);
  }
  for (let t = 0; t < TENANTS; t++) {
    const tenant = `scan${t}`;
    const branchId = branchIdOf({ kind: "shared", index: sharedIndexFor(tenant, 2), count: 2 });
    await h.keys.store.assign({ tenant, kekKeyId: h.kekKeyId, branchId });
    const records: HierarchyDekRecord[] = Array.from({ length: PER_TENANT }, (_, i) => ({
      format: DEK_FORMAT_2, tenant, dekId: dekIdFor(i + 1), dekVersion: i + 1, kekKeyId: h.kekKeyId, branchId, branchVersion: 1, alg: "A256GCM",
      wrapped: wrapDek(plain.get(branchId)!, randomBytes(32), { tenant, dekVersion: i + 1, kekKeyId: h.kekKeyId, branchId, branchVersion: 1 }),
      createdAt: new Date().toISOString(), state: "secondary",
    }));
    await h.deks.putMany(tenant, records);
  }
  const newKek = await h.newKekVersion();
  let calls = 0;
  let rowsWritten = 0;
  const deks = Object.create(h.deks) as HierarchyDekStore;
  deks.rewrite = async (tenant, rows) => {
    if (++calls === 8) throw new Error("crash in the second page");
    const n = await h.deks.rewrite(tenant, rows);
    rowsWritten += n;
    return n;
  };
  const d = { keys: h.keys, deks, kek: kekFromVaults(() => h.vault), revokeKekVersion: async () => undefined };
  const req = { runId: "scan-1", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek };
  await expect(emergency(d, req, { partitions: 1 })).rejects.toThrow("crash in the second page");
  const saved = await h.keys.store.run<{ scanContinuation?: string }>("scan-1");
  expect(saved?.state.scanContinuation).toBeDefined();
  const state = await emergency(d, req, { partitions: 1 });
  expect(state.outcome).toBe("revoked");
  expect(rowsWritten).toBe(TENANTS * PER_TENANT);
  const opened = new Map<string, Buffer>();
  for (const r of await h.keys.store.all(h.kekKeyId)) {
    expect(r.version).toBe(2);
    opened.set(r.branchId, await h.keys.open(r));
  }
  let ok = 0;
  for (let t = 0; t < TENANTS; t++) {
    for (let c: string | undefined, first = true; first || c; first = false) {
      const page = await h.deks.scan(`scan${t}`, c);
      for (const dek of page.items) {
        expect(dek.branchVersion).toBe(2);
        unwrapDek(opened.get(dek.branchId)!, dek.wrapped, dek);
        ok++;
      }
      c = page.continuation;
    }
  }
  expect(ok).toBe(TENANTS * PER_TENANT);
});
