// The hierarchy's workflows end to end on real components (Key Vault peer over HTTPS, Azurite):
// every DEK decrypts across KEK rotation, branch-key rotation and emergency; a KEK rotation touches
// branch keys only; a crash at any step resumes without loss or duplicate work; format-1 DEKs
// still decrypt and migrate under branch keys.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWrappedDek } from "../../../lib/envelope/dekRecord";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults, type KekPort } from "../../../lib/envelope/kek";
import { DekResolver } from "../../../lib/envelope/resolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import { emergency, migrateFlat, rotateBranchKey, rotateKek, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import type { BranchKeyEvent } from "../../../lib/envelope/branchKeyCache";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

const TENANTS = ["t-a", "t-b", "t-c", "t-d", "t-e"];
const ISOLATED = "t-iso";

/** Two DEK versions per tenant (plus an isolated tenant), a ciphertext under each. */
async function seed(): Promise<Map<string, string>> {
  const writer = new HierarchyDeks(h.keys, h.deks);
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined, { primaryTtlMs: 0 }));
  const cts = new Map<string, string>();
  for (const tenant of [...TENANTS, ISOLATED]) {
    for (const v of [1, 2]) {
      await writer.create({ tenant, dekVersion: v, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: tenant === ISOLATED });
      cts.set(`${tenant}/${v}`, await env.encrypt(tenant, Buffer.from(`${tenant} data v${v}`)));
    }
  }
  return cts;
}

async function expectAllDecrypt(cts: Map<string, string>): Promise<void> {
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined));
  for (const [k, ct] of cts) expect((await env.decrypt(ct)).toString()).toBe(`${k.split("/")[0]} data v${k.split("/")[1]}`);
}

async function dekRows(): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  for await (const e of h.dekTable.listEntities<{ wrapped?: string; branchVersion?: number }>()) if (e.wrapped) rows.set(`${e.partitionKey}/${e.rowKey}`, `${e.branchVersion}:${e.wrapped}`);
  return rows;
}

function deps(over: Partial<HierarchyDeps> = {}): HierarchyDeps & { events: BranchKeyEvent[]; revoked: string[] } {
  const events: BranchKeyEvent[] = [];
  const revoked: string[] = [];
  return {
    keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), flat: h.flat, flatTable: h.flatTable,
    revokeKekVersion: async (_k, v) => {
      await h.vault.updateVersion("tenant-kek", v, { enabled: false });
      revoked.push(v);
    },
    publish: async (e) => {
      events.push(e);
    },
    events, revoked, ...over,
  };
}

describe("key hierarchy workflows", () => {
  it("a KEK rotation re-wraps only the branch keys (one remote unwrap each), leaves every DEK row untouched, and every DEK decrypts", async () => {
    const cts = await seed();
    const before = await dekRows();
    const branches = (await h.keys.store.all(h.kekKeyId)).length;
    expect(branches).toBe(3); // 2 shared + 1 dedicated
    const newKek = await h.newKekVersion();
    const unwraps0 = await h.unwraps();
    const state = await rotateKek(deps(), { runId: "kek-1", kekKeyId: h.kekKeyId, newKekVersion: newKek });
    expect(state.done).toBe(true);
    // One unwrap under the old version to re-wrap, one under the new version to prove the new wrap.
    expect((await h.unwraps()) - unwraps0).toBe(2 * branches);
    expect(await dekRows()).toEqual(before);
    expect(await h.keys.store.countUnder(h.kekKeyId, h.kekVersion)).toBe(0);
    // Retired KEK version disabled: data still decrypts (nothing references it).
    await h.vault.updateVersion("tenant-kek", h.kekVersion, { enabled: false });
    await expectAllDecrypt(cts);
    // A second run of the same rotation re-wraps nothing: its only remote calls are the validation
    // gate's proof of each branch key under the new version.
    const unwraps1 = await h.unwraps();
    const again = await rotateKek(deps(), { runId: "kek-1b", kekKeyId: h.kekKeyId, newKekVersion: newKek });
    expect(again.counts.branchKeysRewrapped ?? 0).toBe(0);
    expect((await h.unwraps()) - unwraps1).toBe(branches);
  });

  it("a branch-key rotation re-wraps that branch's DEKs locally (one remote unwrap of the old version), destroys the old version, and every DEK decrypts", async () => {
    const cts = await seed();
    const branchId = (await h.deks.get("t-a", "v00000001"))!.branchId;
    const unwraps0 = await h.unwraps();
    const state = await rotateBranchKey(deps(), { runId: "br-1", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId });
    expect(state.done).toBe(true);
    expect((await h.unwraps()) - unwraps0).toBe(1);
    expect((await h.keys.store.versions(h.kekKeyId, branchId)).map((v) => v.version)).toEqual([2]);
    expect((await h.deks.get("t-a", "v00000001"))!.branchVersion).toBe(2);
    await expectAllDecrypt(cts);
  });

  it("an emergency for a compromised KEK version re-keys every branch key under the new version, re-wraps every DEK locally, destroys the old branch keys, revokes the compromised version after the count, and tells consumers to drop cached keys", async () => {
    const cts = await seed();
    const consumer = new HierarchyDekResolver(h.deks, h.keys);
    await new Envelope(consumer).decrypt(cts.get("t-a/1")!);
    expect(consumer.branchCache.size).toBe(1);
    const newKek = await h.newKekVersion();
    const d = deps({ publish: async (e) => { consumer.onEvent(e); } });
    const unwraps0 = await h.unwraps();
    const state = await emergency(d, { runId: "em-1", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek });
    expect(state).toMatchObject({ done: true, outcome: "revoked", counts: { branches: 3, branchKeysCreated: 3, branchKeysDestroyed: 3, dekRowsWritten: 12 } });
    // The 3 old branch keys opened to re-wrap their DEKs, plus the 3 new ones proven under the new
    // KEK version by the validation gate.
    expect((await h.unwraps()) - unwraps0).toBe(3 + 3);
    expect(d.revoked).toEqual([h.kekVersion]);
    expect(consumer.branchCache.size).toBe(0);
    const records = await h.keys.store.all(h.kekKeyId);
    expect(records.every((r) => r.kekVersion === newKek && r.version === 2)).toBe(true);
    await expectAllDecrypt(cts);
  });

  it("an emergency crashed at each step resumes to the same end: every DEK decrypts, each DEK written once, each branch key created once", async () => {
    for (const crashAt of ["sign", "rewrite", "count", "revoke"] as const) {
      await stopHierarchy(h);
      h = await startHierarchy({ sharedBranches: 2 });
      const cts = await seed();
      const newKek = await h.newKekVersion();
      let armed = true;
      const crash = () => {
        if (!armed) return;
        armed = false;
        throw new Error(`crash at ${crashAt}`);
      };
      if (crashAt === "sign") h.peer.admin.failNext("sign", 1, 400, { code: "BadParameter" });
      const failingDeks = Object.create(h.deks) as HierarchyDekStore;
      let rewrites = 0;
      let rowsWritten = 0;
      failingDeks.rewrite = async (tenant, rows) => {
        if (crashAt === "rewrite" && ++rewrites === 3) crash();
        const n = await h.deks.rewrite(tenant, rows);
        rowsWritten += n;
        return n;
      };
      failingDeks.countBelow = async (kek, below) => {
        if (crashAt === "count") crash();
        return h.deks.countBelow(kek, below);
      };
      const base = deps();
      const d = { ...base, deks: failingDeks, revokeKekVersion: async (k: string, v: string) => { if (crashAt === "revoke") crash(); await base.revokeKekVersion!(k, v); } };
      const req = { runId: `em-${crashAt}`, kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek };
      await expect(emergency(d, req), crashAt).rejects.toThrow();
      const state = await emergency(d, req);
      expect(state.outcome, crashAt).toBe("revoked");
      // Each of the 12 DEKs written exactly once across both attempts.
      expect(rowsWritten, crashAt).toBe(12);
      // Each branch key signed (created) once: 3 signatures, plus the one the vault refused.
      expect(h.peer.admin.stats().calls.sign, `${crashAt} ${JSON.stringify(h.peer.admin.stats().calls)}`).toBe(3 + 3 + (crashAt === "sign" ? 1 : 0));
      const rows = await dekRows();
      expect([...rows.values()].every((v) => v.startsWith("2:")), crashAt).toBe(true);
      expect((await h.keys.store.all(h.kekKeyId)).map((r) => `${r.branchId}#${r.version}`).sort(), crashAt).toEqual(["d-t-iso#2", "s2-00000#2", "s2-00001#2"]);
      await expectAllDecrypt(cts);
    }
  });

  it("format-1 DEKs still decrypt, and migrate under branch keys resumably: a crash mid-way loses nothing and the resumed run unwraps only what was left", async () => {
    const kek = kekFromVaults(() => h.vault);
    const flatEnv = new Envelope(new DekResolver(h.flat, kek, { primaryTtlMs: 0 }));
    const cts = new Map<string, string>();
    for (const tenant of TENANTS) {
      for (const v of [1, 2]) {
        await h.flat.addPrimary(await createWrappedDek({ tenant, dekVersion: v, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion }, kek, new Date()));
        cts.set(`${tenant}/${v}`, await flatEnv.encrypt(tenant, Buffer.from(`${tenant} data v${v}`)));
      }
    }
    // Consumers on the hierarchy resolver read format-1 data before any migration.
    const env = () => new Envelope(new HierarchyDekResolver(h.deks, h.keys, new DekResolver(h.flat, kek)));
    for (const [k, ct] of cts) expect((await env().decrypt(ct)).toString()).toBe(`${k.split("/")[0]} data v${k.split("/")[1]}`);

    let unwrapsSeen = 0;
    const crashing: KekPort = {
      wrap: (...a) => kek.wrap(...a),
      unwrap: async (...a) => {
        if (++unwrapsSeen === 6) throw new Error("crash mid-migration");
        return kek.unwrap(...a);
      },
    };
    const req = { runId: "mig-1", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion };
    await expect(migrateFlat(deps({ kek: crashing }), req, { partitions: 1 })).rejects.toThrow("crash mid-migration");
    for (const [k, ct] of cts) expect((await env().decrypt(ct)).toString()).toBe(`${k.split("/")[0]} data v${k.split("/")[1]}`);
    const unwraps0 = await h.unwraps();
    const state = await migrateFlat(deps(), req, { partitions: 1 });
    expect(state.done).toBe(true);
    const branchOpens = 2; // one per shared branch key opened by the resumed run
    expect((await h.unwraps()) - unwraps0).toBeLessThanOrEqual(10 - 4 + branchOpens);
    expect(await h.flat.countByKekVersion(h.kekKeyId, h.kekVersion)).toBe(0);
    const rows = await dekRows();
    expect(rows.size).toBe(10);
    for (const [k, ct] of cts) expect((await env().decrypt(ct)).toString()).toBe(`${k.split("/")[0]} data v${k.split("/")[1]}`);
    expect((await new HierarchyDekStore(h.dekTable).getPrimary("t-a"))?.dekVersion).toBe(2);
  });
});
