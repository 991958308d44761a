// What a standalone branch-key rotation of several branch keys costs in whole-table reads: the
// proof that no DEK is left under an old version is a query over the KEK's DEKs across all tenant
// partitions (a scan of the DEK table), paid ONCE per rotation, not once per branch key (B branch
// keys × N DEKs is what it must never read). The rest is local to the DEKs in scope: each tenant's
// own partition. Real Azurite tables (every request counted by a policy on the DEK table's
// pipeline), the Key Vault peer (KEK unwrap, branch-key signing), the real activity (the flow's
// slices) over memory ports for the ledger.
import type { TableClient } from "@azure/data-tables";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { hierarchyBranchRotation, type HierarchySlice } from "../../../lib/hierarchy/durableActivities";
import type { HierarchyRuntime } from "../../../lib/hierarchy/durableRuntime";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { freshDeps } from "../orchestration/fixtures";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

const SHARED = 4;
/** Spread over the shared branch keys by hash: at least 3 of the 4 hold DEKs. */
const TENANTS = Array.from({ length: 12 }, (_, i) => `tenant-${i}`);

/** Queries sent to the table without a PartitionKey condition (first pages only: a query's later
 * pages carry NextPartitionKey and are the same scan), and all requests. */
function countScans(client: TableClient): { scans: number; requests: number } {
  const counts = { scans: 0, requests: 0 };
  client.pipeline.addPolicy({
    name: "branchRotationScanCounter",
    async sendRequest(request, next) {
      counts.requests++;
      const url = new URL(request.url);
      const pointRead = /\(PartitionKey=/.test(decodeURIComponent(url.pathname));
      const filter = url.searchParams.get("$filter") ?? "";
      if (request.method === "GET" && !pointRead && !url.searchParams.has("NextPartitionKey") && !/PartitionKey\s+eq/.test(filter)) counts.scans++;
      return next(request);
    },
  });
  return counts;
}

let h: Hierarchy;
let deps: RotationDeps;
let rt: HierarchyRuntime;

beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: SHARED });
  deps = freshDeps();
  const writer = new HierarchyDeks(h.keys, h.deks);
  for (const tenant of TENANTS) {
    await writer.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await writer.create({ tenant, dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
  }
});
afterEach(() => stopHierarchy(h));

/** The flow's loop: one activity call per slice until the rotation is done; the last answer's counts. */
async function rotateAll(rotationId: string, sliceMs: number): Promise<{ slices: number; last: HierarchySlice }> {
  rt = { store: h.store, keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), sliceMs, ratePerSec: 0 };
  for (let slices = 1; ; slices++) {
    const last = await hierarchyBranchRotation(deps, rt, { rotationId, keyId: h.kekKeyId, kekVersion: h.kekVersion, actor: "alice" });
    if (!last.more) return { slices, last };
    if (slices > 200) throw new Error("[test] the rotation did not end");
  }
}

async function expectRotated(branches: string[]): Promise<void> {
  expect((await h.store.all(h.kekKeyId)).map((r) => `${r.branchId}#${r.version}`).sort()).toEqual(branches.map((b) => `${b}#2`));
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
  for (const tenant of TENANTS) expect((await env.decrypt(await env.encrypt(tenant, Buffer.from(`${tenant} data`)))).toString()).toBe(`${tenant} data`);
  for (const tenant of TENANTS) for (const dek of (await h.deks.scan(tenant)).items) expect(dek.branchVersion).toBe(2);
}

describe("a standalone rotation of several branch keys", () => {
  it("scans the DEK table across partitions once, whatever the number of branch keys, and spends one unwrap and one sign per branch key", async () => {
    const branches = [...new Set((await h.store.all(h.kekKeyId)).map((r) => r.branchId))].sort();
    expect(branches.length).toBeGreaterThanOrEqual(3);
    const dekTable = countScans(h.dekTable);
    const unwraps = await h.unwraps();
    const signs = h.peer.admin.stats().calls.sign ?? 0;

    const { last } = await rotateAll("kek@manual:branch-scans", 60_000);

    expect(dekTable.scans, JSON.stringify(dekTable)).toBe(1);
    expect(last).toMatchObject({ more: false, step: "done", counts: { branches: branches.length, branchKeysCreated: branches.length, branchKeysDestroyed: branches.length, dekRowsWritten: 2 * TENANTS.length } });
    expect(await h.unwraps() - unwraps).toBe(branches.length);
    expect((h.peer.admin.stats().calls.sign ?? 0) - signs).toBe(branches.length);
    await expectRotated(branches);
  });

  it("forced into a slice per step and per branch key, still scans once, re-opens no key it created and counts each DEK row once", async () => {
    const branches = [...new Set((await h.store.all(h.kekKeyId)).map((r) => r.branchId))].sort();
    const dekTable = countScans(h.dekTable);
    const unwraps = await h.unwraps();

    const { slices, last } = await rotateAll("kek@manual:branch-scans-sliced", 0);

    // plan | one slice per branch-key group the first save ended | destroy: more than plan + destroy.
    expect(slices).toBeGreaterThan(2);
    expect(dekTable.scans, JSON.stringify(dekTable)).toBe(1);
    expect(last.counts).toMatchObject({ branchKeysCreated: branches.length, branchKeysDestroyed: branches.length, dekRowsWritten: 2 * TENANTS.length });
    expect(await h.unwraps() - unwraps).toBe(branches.length);
    await expectRotated(branches);
  });
});
