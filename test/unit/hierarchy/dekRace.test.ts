// A tenant's DEK rotation is locked on dek:<tenant> only, never on its KEK, so it runs beside an
// emergency or a branch-key rotation of that KEK. Write-then-check (lib/hierarchy/deks.ts settle)
// against the replacement run's mark-then-count (old versions made secondary before the count that
// allows their destruction) keeps every new DEK under a live branch-key version whatever the
// interleaving. Each interleaving is forced deterministically (a DEK store that holds the write),
// on Azurite and the Key Vault peer.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import type { HierarchyRuntime } from "../../../lib/hierarchy/durableRuntime";
import { rotateTenantDek } from "../../../lib/orchestration/activities";
import { KeyVaultRotationAdapter, type RotationDeps } from "../../../lib/orchestration/deps";
import { freshDeps, seedPolicy, T0, testPolicy } from "../orchestration/fixtures";
import { emergency, rotateBranchKey, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

function deps(): HierarchyDeps {
  return {
    keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), flat: h.flat, flatTable: h.flatTable,
    revokeKekVersion: async (_k, v) => { await h.vault.updateVersion("tenant-kek", v, { enabled: false }); },
  };
}

/** A DEK store whose next put waits for release(): before the write (`when: "before"`, the branch
 * version already looked up) or after it (`"after"`, before the write is checked). */
class HeldStore extends HierarchyDekStore {
  readonly entered: Promise<void>;
  private enter!: () => void;
  release!: () => void;
  private readonly gate: Promise<void>;
  constructor(client: ConstructorParameters<typeof HierarchyDekStore>[0], private readonly when: "before" | "after") {
    super(client);
    this.entered = new Promise((r) => { this.enter = r; });
    this.gate = new Promise((r) => { this.release = r; });
  }
  override async put(...args: Parameters<HierarchyDekStore["put"]>): Promise<void> {
    if (this.when === "after") await super.put(...args);
    this.enter();
    await this.gate;
    if (this.when === "before") await super.put(...args);
  }
}

/** Every DEK of the tenants decrypts through a fresh consumer resolver, and the tenant's primary
 * sits under a branch-key version that exists and is primary; returns the failures. */
async function broken(tenants: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const resolver = new HierarchyDekResolver(h.deks, h.keys);
  for (const tenant of tenants) {
    for (let c: string | undefined, first = true; first || c; first = false) {
      const page = await h.deks.scan(tenant, c);
      for (const d of page.items) {
        await resolver.resolve(tenant, d.dekVersion).catch((e: Error) => out.push(`${tenant} v${d.dekVersion}: ${e.message}`));
      }
      c = page.continuation;
    }
    const p = await h.deks.getPrimary(tenant);
    const branch = p && (await h.keys.store.get(p.kekKeyId, p.branchId, p.branchVersion));
    if (branch?.state !== "primary") out.push(`${tenant} primary v${p?.dekVersion}: under ${p?.branchId}#${p?.branchVersion}, ${branch ? branch.state : "destroyed"}`);
    const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
    const ct = await env.encrypt(tenant, Buffer.from(`${tenant} data`)).catch((e: Error) => { out.push(`${tenant} encrypt: ${e.message}`); });
    if (ct && (await env.decrypt(ct)).toString() !== `${tenant} data`) out.push(`${tenant}: round trip`);
  }
  return out;
}

describe("a tenant's DEK rotation racing the KEK's branch-key work", () => {
  it("a new DEK whose branch version an emergency and then a branch-key rotation destroyed before its write is re-wrapped under the current primary version: every DEK decrypts", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const first = await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await writer.create({ tenant: "t-b", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const held = new HeldStore(h.dekTable, "before");
    const racing = new HierarchyDeks(h.keys, held).create({ tenant: "t-a", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, rotationRun: "dek:t-a@q4" });
    await held.entered;

    const newKek = await h.newKekVersion();
    const em = await emergency(deps(), { runId: "em-1", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek });
    expect(em.outcome).toBe("revoked");
    const br = await rotateBranchKey(deps(), { runId: "br-1", kekKeyId: h.kekKeyId, kekVersion: newKek, branchId: first.branchId });
    expect(br.done).toBe(true);
    expect(await h.keys.store.get(h.kekKeyId, first.branchId, first.branchVersion)).toBeUndefined();

    held.release();
    const made = await racing;
    expect(made.dekVersion).toBe(2);
    const branch = await h.keys.store.get(h.kekKeyId, made.branchId, made.branchVersion);
    expect(branch?.state).toBe("primary");
    expect(branch?.kekVersion).toBe(newKek);
    expect(await broken(["t-a", "t-b"])).toEqual([]);
  });

  /** Tenant t-a's DEK v2 written while a branch-key rotation of its branch key runs to the end: the
   * write held just before it lands ("before") or just after ("after"), released once the rotation
   * is done. Answers the rotation's counts and the DEK's branch version. */
  async function dekWriteAcrossBranchRotation(hold: "before" | "after", runId: string): Promise<{ counts: Record<string, number>; branchVersion: number }> {
    const first = await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const held = new HeldStore(h.dekTable, hold);
    const racing = new HierarchyDeks(h.keys, held).create({ tenant: "t-a", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, rotationRun: "dek:t-a@q4" });
    await held.entered;
    const br = await rotateBranchKey(deps(), { runId, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId: first.branchId });
    held.release();
    return { counts: br.counts, branchVersion: (await racing).branchVersion };
  }

  it("a new DEK whose branch version a branch-key rotation counted, found unreferenced and destroyed before its write is re-wrapped under the new version", async () => {
    const r = await dekWriteAcrossBranchRotation("before", "br-x");
    expect(r.counts.branchKeysDestroyed).toBe(1);
    expect(r.branchVersion).toBe(2);
    expect(await broken(["t-a"])).toEqual([]);
  });

  it("a new DEK written before a branch-key rotation marks its version is found by the rotation's count and moved with the others before the version is destroyed", async () => {
    const r = await dekWriteAcrossBranchRotation("after", "br-y");
    expect(r.counts.dekRowsWritten).toBe(2);
    expect(r.branchVersion).toBe(2);
    expect(await broken(["t-a"])).toEqual([]);
  });
});

describe("a retried tenant DEK rotation that finds the DEK its earlier attempt wrote", () => {
  let rdeps: RotationDeps;
  let rt: HierarchyRuntime;
  beforeEach(async () => {
    const mem = freshDeps();
    const policyId = await seedPolicy(mem, testPolicy("platform", "platform-default", ["kek"]));
    await mem.inventory.put({ keyId: h.kekKeyId, kind: "kek", tenant: "platform", policyId, primaryVersion: h.kekVersion, versions: [{ version: h.kekVersion, state: "primary", createdAt: T0 }] }, undefined);
    rdeps = { ...mem, vault: new KeyVaultRotationAdapter(() => h.vault) };
    rt = { store: h.store, keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), sliceMs: 60_000, ratePerSec: 0 };
  });
  const at = "2026-04-01T00:00:00.000Z";

  /** A branch-key rotation's create step alone (version 2 made primary, version 1 demoted), the DEKs
   * not moved yet; `destroy`: version 1 destroyed too, as a run whose count came before the DEK's
   * write does. */
  async function demote(branchId: string, destroy: boolean): Promise<void> {
    const made = await h.keys.create({ kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId, version: 2, state: "primary" });
    made.key?.fill(0);
    const v1 = (await h.store.get(h.kekKeyId, branchId, 1))!;
    await h.store.setState(v1, "secondary");
    if (destroy) await h.store.destroy(h.kekKeyId, branchId, 1);
  }

  it("is reported as reused only once it sits under a primary branch-key version: one under a demoted version is re-wrapped under the current one first", async () => {
    const first = await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect(await rotateTenantDek(rdeps, { rotationId: "dek:t-a@q4", tenant: "t-a", at }, rt)).toMatchObject({ dekVersion: "v2", reused: false });
    await demote(first.branchId, false);

    const again = await rotateTenantDek(rdeps, { rotationId: "dek:t-a@q4", tenant: "t-a", at }, rt);
    expect(again).toMatchObject({ dekVersion: "v2", reused: true, kekVersion: h.kekVersion });
    expect(await h.deks.get("t-a", "v00000002")).toMatchObject({ branchVersion: 2, state: "primary" });
    expect(await broken(["t-a"])).toEqual([]);
  });

  it("whose branch-key version was destroyed (the attempt ended between its write and its check) is not reported: a new primary version is made under the current branch version", async () => {
    const first = await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect(await rotateTenantDek(rdeps, { rotationId: "dek:t-a@q4", tenant: "t-a", at }, rt)).toMatchObject({ dekVersion: "v2", reused: false });
    await demote(first.branchId, true);

    const again = await rotateTenantDek(rdeps, { rotationId: "dek:t-a@q4", tenant: "t-a", at }, rt);
    expect(again).toMatchObject({ dekVersion: "v3", reused: false, kekVersion: h.kekVersion, previous: "v2" });
    const primary = await h.deks.getPrimary("t-a");
    expect(primary).toMatchObject({ dekVersion: 3, branchVersion: 2, rotationRun: "dek:t-a@q4" });
    const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
    expect((await env.decrypt(await env.encrypt("t-a", Buffer.from("after")))).toString()).toBe("after");
    // A third attempt finds the newest DEK of the rotation and makes none.
    expect(await rotateTenantDek(rdeps, { rotationId: "dek:t-a@q4", tenant: "t-a", at }, rt)).toMatchObject({ dekVersion: "v3", reused: true });
  });
});
