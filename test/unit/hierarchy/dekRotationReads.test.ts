// What a tenant's quarterly DEK rotation (the durable DEK flow's rotateTenantDek) costs in Table
// reads under a KEK with branch keys: a handful of requests on the tenant's own rows, the same for a
// KEK with 2 branch keys as for one with 256 (2,000 tenants × a scan of the KEK's branch-key
// partition each is what it must never do). Real Azurite tables (every request counted by a policy
// on the TableClient's pipeline), the Key Vault peer (KEK unwrap, branch-key signing), the real
// activity over memory ports for the inventory, ledger and flat DEKs.
import type { TableClient } from "@azure/data-tables";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { branchIdOf, sharedIndexFor } from "../../../lib/domain/branchKeys";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { BranchKeyStore } from "../../../lib/hierarchy/branchKeyStore";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import type { HierarchyRuntime } from "../../../lib/hierarchy/durableRuntime";
import { rotateTenantDek } from "../../../lib/orchestration/activities";
import { KeyVaultRotationAdapter, type RotationDeps } from "../../../lib/orchestration/deps";
import { freshDeps, seedPolicy, T0, testPolicy } from "../orchestration/fixtures";
import { RotationConflictError } from "../../../lib/domain/errors";
import { freshTable } from "../../support/tables";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

const SHARED = 256;

/** Table requests one client sent: all of them, the reads (GET), and the rows those reads returned
 * (a query's `value` array, a point read's one entity). */
interface Counts {
  requests: number;
  reads: number;
  rows: number;
}

function countRequests(client: TableClient): { counts: Counts; reset(): void } {
  const counts: Counts = { requests: 0, reads: 0, rows: 0 };
  client.pipeline.addPolicy({
    name: "dekRotationReadsCounter",
    async sendRequest(request, next) {
      // Counted whatever the answer: a 404 (a point read of a missing row) surfaces as a throw.
      counts.requests++;
      if (request.method === "GET") counts.reads++;
      const response = await next(request);
      if (request.method === "GET" && response.status === 200 && response.bodyAsText) {
        const body = JSON.parse(response.bodyAsText) as { value?: unknown[] };
        counts.rows += Array.isArray(body.value) ? body.value.length : 1;
      }
      return response;
    },
  });
  return { counts, reset: () => Object.assign(counts, { requests: 0, reads: 0, rows: 0 }) };
}

let h: Hierarchy;
let deps: RotationDeps;
let rt: HierarchyRuntime;
let branchTable: ReturnType<typeof countRequests>;
let dekTable: ReturnType<typeof countRequests>;

beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: SHARED });
  branchTable = countRequests(h.branchTable);
  dekTable = countRequests(h.dekTable);
  // The activity's own ports in memory, but its KEK checks against the peer's real versions.
  const mem = freshDeps();
  const policyId = await seedPolicy(mem, testPolicy("platform", "platform-default", ["kek"]));
  await mem.inventory.put({ keyId: h.kekKeyId, kind: "kek", tenant: "platform", policyId, primaryVersion: h.kekVersion, versions: [{ version: h.kekVersion, state: "primary", createdAt: T0 }] }, undefined);
  deps = { ...mem, vault: new KeyVaultRotationAdapter(() => h.vault) };
  rt = { store: h.store, keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), sliceMs: 60_000, ratePerSec: 0 };
});
afterEach(() => stopHierarchy(h));

/** Every shared branch key of the KEK (version 1 each; the ones tenants made already are kept). */
async function createEveryBranchKey(): Promise<void> {
  const ids = Array.from({ length: SHARED }, (_, index) => branchIdOf({ kind: "shared", index, count: SHARED }));
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(ids.slice(i, i + 16).map(async (branchId) => {
      const made = await h.keys.create({ kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId, version: 1, state: "primary" });
      made.key?.fill(0);
    }));
  }
  expect((await h.store.all(h.kekKeyId)).length).toBe(SHARED);
}

/** One tenant DEK rotation, counted on both hierarchy tables. */
async function rotate(tenant: string, rotationId: string, kekKeyId?: string): Promise<{ branchKeys: Counts; deks: Counts; dekVersion: string }> {
  branchTable.reset();
  dekTable.reset();
  const out = await rotateTenantDek(deps, { rotationId, tenant, at: "2026-04-01T00:00:00.000Z", ...(kekKeyId ? { kekKeyId } : {}) }, rt);
  expect(out).toMatchObject({ reused: false, kekVersion: h.kekVersion });
  return { branchKeys: { ...branchTable.counts }, deks: { ...dekTable.counts }, dekVersion: out.dekVersion };
}

describe("a tenant's DEK rotation under a KEK with branch keys", () => {
  it("reads the same few rows whether the KEK has 2 branch keys or 256: at most 5 read requests and 5 rows on the hierarchy's tables, one write", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    for (const tenant of ["acme", "globex"]) await writer.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect((await h.store.all(h.kekKeyId)).length).toBeLessThanOrEqual(2);

    const few = await rotate("acme", "dek:acme@2026Q2");
    await createEveryBranchKey();
    const many = await rotate("globex", "dek:globex@2026Q2");
    console.info(`[dekRotationReads] 2 branch keys: ${JSON.stringify(few)}; 256 branch keys: ${JSON.stringify(many)}`);

    // The bound: the tenant's DEK partition (one query: its DEK rows and primary pointer, which the
    // write then uses), its assignment, whether it has a dedicated branch key, its branch key's
    // versions, the branch-key check after the write; nothing per branch key of the KEK.
    const reads = (c: { branchKeys: Counts; deks: Counts }) => ({ reads: c.branchKeys.reads + c.deks.reads, rows: c.branchKeys.rows + c.deks.rows });
    expect(reads(many), JSON.stringify(many)).toEqual(reads(few));
    expect(reads(many).reads, JSON.stringify(many)).toBeLessThanOrEqual(5);
    expect(reads(many).rows, JSON.stringify(many)).toBeLessThanOrEqual(5);
    // The only write: the DEK and the moved primary pointer, in one transaction.
    expect(many.branchKeys.requests - many.branchKeys.reads + many.deks.requests - many.deks.reads).toBe(1);
    expect(many.dekVersion).toBe("v2");
    expect(await h.deks.getPrimary("globex")).toMatchObject({ format: 2, dekVersion: 2, rotationRun: "dek:globex@2026Q2" });
  });

  it("a tenant's first DEK under a KEK with 256 branch keys learns that the KEK has branch keys from one row, not 256", async () => {
    await createEveryBranchKey();
    const first = await rotate("initech", "dek:initech@2026Q2", h.kekKeyId);
    expect(first.dekVersion).toBe("v1");
    console.info(`[dekRotationReads] a tenant's first DEK, 256 branch keys: ${JSON.stringify(first)}`);
    expect(first.branchKeys.rows, JSON.stringify(first)).toBeLessThanOrEqual(3);
    expect(first.branchKeys.reads + first.deks.reads, JSON.stringify(first)).toBeLessThanOrEqual(7);
    expect(await h.deks.getPrimary("initech")).toMatchObject({ format: 2, dekVersion: 1 });
  });

  it("a retried rotation (its DEK already written) reads the tenant's DEKs and one branch-key row, and makes nothing", async () => {
    await createEveryBranchKey();
    await new HierarchyDeks(h.keys, h.deks).create({ tenant: "umbrella", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await rotate("umbrella", "dek:umbrella@2026Q2");
    branchTable.reset();
    dekTable.reset();
    const again = await rotateTenantDek(deps, { rotationId: "dek:umbrella@2026Q2", tenant: "umbrella", at: "2026-04-01T00:00:00.000Z" }, rt);
    expect(again).toMatchObject({ reused: true, dekVersion: "v2", previous: "v1", kekVersion: h.kekVersion });
    expect(branchTable.counts, JSON.stringify(branchTable.counts)).toEqual({ requests: 1, reads: 1, rows: 1 });
    expect(dekTable.counts.requests - dekTable.counts.reads).toBe(0);
    expect(dekTable.counts.reads).toBe(1);
  });
});

/** `n` tenants that share one shared branch key of the KEK's 256. */
function tenantsOfOneBranch(n: number, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (sharedIndexFor(`${prefix}${i}`, SHARED) === 7) out.push(`${prefix}${i}`);
  return out;
}

describe("the tenant DEK rotations of one worker", () => {
  it("spend one remote unwrap on a branch key its tenants share, not one per tenant's rotation", async () => {
    const tenants = tenantsOfOneBranch(3, "shared");
    const seeder = new HierarchyDeks(h.keys, h.deks);
    for (const tenant of tenants) await seeder.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const before = await h.unwraps();
    for (const tenant of tenants) expect((await rotate(tenant, `dek:${tenant}@2026Q2`)).dekVersion).toBe("v2");
    expect(await h.unwraps() - before).toBe(1);
  });

  it("never wrap a new DEK under a cached branch key whose version was destroyed and made again: the record's signed commitment decides", async () => {
    const [first, second, third] = tenantsOfOneBranch(3, "remade");
    const branchId = branchIdOf({ kind: "shared", index: 7, count: SHARED });
    await createEveryBranchKey();
    await new HierarchyDeks(h.keys, h.deks).create({ tenant: first!, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await rotate(first!, `dek:${first}@2026Q2`);
    // Every version of that branch key gone (the worker's cache still holds version 1's key), then
    // a tenant's first DEK makes version 1 again, with another key; the next tenant finds it.
    await h.store.destroy(h.kekKeyId, branchId, 1);
    await rotate(second!, `dek:${second}@2026Q2`, h.kekKeyId);
    await rotate(third!, `dek:${third}@2026Q2`, h.kekKeyId);
    for (const tenant of [second!, third!]) {
      expect(await h.deks.getPrimary(tenant)).toMatchObject({ branchId, branchVersion: 1 });
      const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
      expect((await env.decrypt(await env.encrypt(tenant, Buffer.from(`${tenant} data`)))).toString()).toBe(`${tenant} data`);
    }
  });
});

describe("BranchKeyStore.hasAny (whether a KEK has branch keys, from one row)", () => {
  it("is false for a KEK without branch-key records, whatever other KEKs, its own assignments or run checkpoints hold, and true once it has one", async () => {
    const store = new BranchKeyStore(await freshTable("branchkeys"));
    const kek = h.kekKeyId;
    expect(await store.hasAny(kek)).toBe(false);
    // Rows in other partitions: a KEK whose id extends this one's, this KEK's tenant assignments, a
    // workflow checkpoint.
    const other = await h.keys.create({ kekKeyId: kek, kekVersion: h.kekVersion, branchId: "s256-00001", version: 1, state: "primary" });
    other.key?.fill(0);
    const { etag: _etag, ...record } = other.record;
    await store.create({ ...record, kekKeyId: `${kek}2` });
    await store.assign({ tenant: "acme", kekKeyId: kek, branchId: "s256-00001" });
    await store.saveRun("run-1", { step: 1 });
    expect(await store.hasAny(kek)).toBe(false);
    expect(await store.hasAny(`${kek}2`)).toBe(true);
    await store.create(record);
    expect(await store.hasAny(kek)).toBe(true);
  });

  it("reads one row of a KEK with 256 branch keys in one request", async () => {
    await createEveryBranchKey();
    branchTable.reset();
    expect(await h.store.hasAny(h.kekKeyId)).toBe(true);
    expect(branchTable.counts).toEqual({ requests: 1, reads: 1, rows: 1 });
  });
});

describe("a DEK write with the tenant's partition as read before it", () => {
  it("fails, changing nothing, when the tenant's primary moved since that read (If-Match on the previous primary and the pointer)", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "acme", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const read = await h.deks.partition("acme");
    expect(read.pointer?.primaryDekId).toBe("v00000001");
    expect(read.deks.map((d) => d.dekId)).toEqual(["v00000001"]);
    // Another writer moves the primary to v2 after that read.
    await writer.create({ tenant: "acme", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await expect(writer.create({ tenant: "acme", dekVersion: 3, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, read })).rejects.toBeInstanceOf(RotationConflictError);
    expect(await h.deks.getPrimary("acme")).toMatchObject({ dekVersion: 2, state: "primary" });
    expect(await h.deks.get("acme", "v00000003")).toBeUndefined();
    expect((await h.deks.get("acme", "v00000001"))?.state).toBe("secondary");
  });

  it("creates the pointer of a tenant that had none, and fails if another write made one since", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const empty = await h.deks.partition("globex");
    expect(empty).toEqual({ deks: [] });
    await writer.create({ tenant: "globex", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, read: empty });
    expect(await h.deks.getPrimary("globex")).toMatchObject({ dekVersion: 1 });
    await expect(writer.create({ tenant: "globex", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, read: empty })).rejects.toBeInstanceOf(RotationConflictError);
    expect(await h.deks.getPrimary("globex")).toMatchObject({ dekVersion: 1 });
    expect(await h.deks.get("globex", "v00000002")).toBeUndefined();
  });
});
