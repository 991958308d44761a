// Issue 20 under the key hierarchy: branch keys re-wrapped under a new KEK version must each unwrap
// through the vault under that version and match their signed key commitment before anything old is
// destroyed or revoked. Real components (Key Vault peer over HTTPS, Azurite); the peer's broken
// versions (admin.breakVersion) make the new KEK version's unwrap fail or answer wrong bytes.
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BranchKeyEvent } from "../../../lib/envelope/branchKeyCache";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { emergency, rotateKek, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

const TENANTS = ["t-a", "t-b", "t-c", "t-iso"];

/** One DEK per tenant (t-iso on a dedicated branch key: 3 branch keys), a ciphertext under each. */
async function seed(): Promise<Map<string, string>> {
  const writer = new HierarchyDeks(h.keys, h.deks);
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined, { primaryTtlMs: 0 }));
  const cts = new Map<string, string>();
  for (const tenant of TENANTS) {
    await writer.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: tenant === "t-iso" });
    cts.set(tenant, await env.encrypt(tenant, Buffer.from(`${tenant} data`)));
  }
  return cts;
}

async function expectAllDecrypt(cts: Map<string, string>): Promise<void> {
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined));
  for (const [tenant, ct] of cts) expect((await env.decrypt(ct)).toString()).toBe(`${tenant} data`);
}

async function branchRows(): Promise<string[]> {
  return (await h.keys.store.all(h.kekKeyId)).map((r) => `${r.branchId}#${r.version}@${r.kekVersion}:${r.wrapped}`).sort();
}

async function dekRows(): Promise<string[]> {
  const rows: string[] = [];
  for await (const e of h.dekTable.listEntities<{ wrapped?: string; branchVersion?: number }>()) if (e.wrapped) rows.push(`${e.partitionKey}/${e.rowKey}:${e.branchVersion}:${e.wrapped}`);
  return rows.sort();
}

function deps(): HierarchyDeps & { events: BranchKeyEvent[]; revoked: string[] } {
  const events: BranchKeyEvent[] = [];
  const revoked: string[] = [];
  return {
    keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), flat: h.flat,
    revokeKekVersion: async (_k, v) => {
      await h.vault.updateVersion("tenant-kek", v, { enabled: false });
      revoked.push(v);
    },
    publish: async (e) => {
      events.push(e);
    },
    events, revoked,
  };
}

const breakNew = (version: string, mode: "corrupt" | "fail") =>
  h.peer.admin.breakVersion({ object: "key", name: "tenant-kek", version, operations: ["unwrapKey"], ...(mode === "corrupt" ? { mode } : { status: 400, code: "BadParameter" }) });

describe("key hierarchy validation gate", () => {
  for (const mode of ["corrupt", "fail"] as const) {
    it(`a KEK rotation whose new version ${mode === "corrupt" ? "unwraps to wrong bytes" : "refuses to unwrap"} stops with ValidationFailed before any branch-key record is rewritten, publishes nothing, and resumes to done once the version works`, async () => {
      const cts = await seed();
      const before = await branchRows();
      const newKek = await h.newKekVersion();
      breakNew(newKek, mode);
      const d = deps();
      const req = { runId: `kek-${mode}`, kekKeyId: h.kekKeyId, newKekVersion: newKek };
      await expect(rotateKek(d, req)).rejects.toMatchObject({ family: "invariantViolation", code: "ValidationFailed" });
      expect(await branchRows()).toEqual(before);
      expect(await h.keys.store.countUnder(h.kekKeyId, newKek)).toBe(0);
      expect(d.events).toEqual([]);
      await expectAllDecrypt(cts);

      h.peer.admin.clearFaults();
      const state = await rotateKek(d, req);
      expect(state).toMatchObject({ done: true, counts: { branchKeysRewrapped: 3, branchKeysValidated: 3 } });
      expect(await h.keys.store.countUnder(h.kekKeyId, h.kekVersion)).toBe(0);
      await h.vault.updateVersion("tenant-kek", h.kekVersion, { enabled: false });
      await expectAllDecrypt(cts);
    });
  }

  it("a KEK rotation whose new version breaks after its first unwrap writes no branch-key record (its whole sample is proven before the first write), and the resumed run re-wraps them all", async () => {
    const cts = await seed();
    const newKek = await h.newKekVersion();
    h.peer.admin.breakVersion({ object: "key", name: "tenant-kek", version: newKek, operations: ["unwrapKey"], afterCalls: 1, mode: "corrupt" });
    const d = deps();
    const req = { runId: "kek-late", kekKeyId: h.kekKeyId, newKekVersion: newKek };
    await expect(rotateKek(d, req)).rejects.toMatchObject({ code: "ValidationFailed" });
    expect(await h.keys.store.countUnder(h.kekKeyId, newKek)).toBe(0);
    expect(await h.keys.store.countUnder(h.kekKeyId, h.kekVersion)).toBe(3);
    expect(d.events).toEqual([]);
    await expectAllDecrypt(cts);

    h.peer.admin.clearFaults();
    expect(await rotateKek(d, req)).toMatchObject({ done: true, counts: { branchKeysRewrapped: 3, branchKeysValidated: 3 } });
    await expectAllDecrypt(cts);
  });

  it("a KEK rotation proves a sample of its own new wraps, not every branch key: B + sample remote unwraps (here 3 + 1), never one per DEK", async () => {
    const cts = await seed();
    const newKek = await h.newKekVersion();
    const unwraps0 = await h.unwraps();
    const state = await rotateKek(deps(), { runId: "kek-cost", kekKeyId: h.kekKeyId, newKekVersion: newKek }, { proofSample: 1 });
    expect(state).toMatchObject({ done: true, counts: { branchKeysRewrapped: 3, branchKeysValidated: 1 } });
    expect((await h.unwraps()) - unwraps0).toBe(3 + 1);
    await h.vault.updateVersion("tenant-kek", h.kekVersion, { enabled: false });
    await expectAllDecrypt(cts);
  });

  for (const mode of ["corrupt", "fail"] as const) {
    it(`a KEK rotation proving a sample of one still stops a new version that ${mode === "corrupt" ? "unwraps to wrong bytes" : "refuses to unwrap"} before any branch-key record is replaced`, async () => {
      const cts = await seed();
      const before = await branchRows();
      const newKek = await h.newKekVersion();
      breakNew(newKek, mode);
      const d = deps();
      await expect(rotateKek(d, { runId: `kek-one-${mode}`, kekKeyId: h.kekKeyId, newKekVersion: newKek }, { proofSample: 1 })).rejects.toMatchObject({ code: "ValidationFailed", message: expect.stringContaining("1 of 1 branch keys") as unknown });
      expect(await branchRows()).toEqual(before);
      expect(d.events).toEqual([]);
      await expectAllDecrypt(cts);
    });
  }

  it("a branch-key record under the new KEK version that the run did not wrap itself is proven by its own remote unwrap at the gate, and a bad one stops the rotation", async () => {
    await seed();
    const newKek = await h.newKekVersion();
    // Another writer re-wrapped one record under the new version with a key that is not the signed
    // one (its commitment does not match): no sample of the run's own wraps covers it.
    const [victim] = await h.keys.store.all(h.kekKeyId);
    const forged = (await kekFromVaults(() => h.vault).wrap(h.kekKeyId, newKek, randomBytes(32), "RSA-OAEP-256")).toString("base64url");
    await h.keys.store.rewrap(victim!, newKek, forged);
    const d = deps();
    const req = { runId: "kek-foreign", kekKeyId: h.kekKeyId, newKekVersion: newKek };
    await expect(rotateKek(d, req, { proofSample: 1 })).rejects.toMatchObject({ code: "ValidationFailed", message: expect.stringContaining(`${victim!.branchId}#${victim!.version}`) as unknown });
    expect(d.events).toEqual([]);
    expect((await h.keys.store.run<{ done: boolean; step: string }>(req.runId))?.state).toMatchObject({ done: false, step: "validate" });
  });

  it("a KEK rotation resumed at the gate proves the records an earlier attempt re-wrapped, and stops with ValidationFailed when the new version broke since", async () => {
    const cts = await seed();
    const newKek = await h.newKekVersion();
    const req = { runId: "kek-resume", kekKeyId: h.kekKeyId, newKekVersion: newKek };
    // The first attempt re-wraps everything and dies right after checkpointing the re-wrap.
    const crashing = { ...deps(), onStep: (_run: string, step: string) => (step === "rewrapBranchKeys" ? Promise.reject(new Error("crash after rewrap")) : Promise.resolve()) };
    await expect(rotateKek(crashing, req)).rejects.toThrow("crash after rewrap");
    expect(await h.keys.store.countUnder(h.kekKeyId, newKek)).toBe(3);
    breakNew(newKek, "corrupt");
    const d = deps();
    await expect(rotateKek(d, req)).rejects.toMatchObject({ code: "ValidationFailed", message: expect.stringContaining("3 of 3 branch keys") as unknown });
    expect(d.events).toEqual([]);
    expect((await h.keys.store.run<{ done: boolean; step: string }>(req.runId))?.state).toMatchObject({ done: false, step: "validate" });
    // The old version was never disabled by the rotation: with the fault gone, the resumed gate passes
    // (validated: the first attempt's sample of 3, then the resumed gate's fresh sample of 3).
    h.peer.admin.clearFaults();
    expect(await rotateKek(d, req)).toMatchObject({ done: true, counts: { branchKeysValidated: 6 } });
    await expectAllDecrypt(cts);
  });

  it("an emergency whose new KEK version unwraps to wrong bytes stops with ValidationFailed before any DEK moves: old branch keys not destroyed, the compromised version not revoked, DEK rows untouched; the resumed run finishes", async () => {
    const cts = await seed();
    const dekBefore = await dekRows();
    const newKek = await h.newKekVersion();
    breakNew(newKek, "corrupt");
    const d = deps();
    const req = { runId: "em-gate", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek };
    await expect(emergency(d, req)).rejects.toMatchObject({ family: "invariantViolation", code: "ValidationFailed" });
    expect(d.revoked).toEqual([]);
    expect(d.events).toEqual([]);
    expect(await dekRows()).toEqual(dekBefore);
    expect(await h.keys.store.countUnder(h.kekKeyId, h.kekVersion)).toBe(3);
    await expectAllDecrypt(cts);

    h.peer.admin.clearFaults();
    const state = await emergency(d, req);
    expect(state).toMatchObject({ done: true, outcome: "revoked", counts: { branchKeysCreated: 3, branchKeysValidated: 3, branchKeysDestroyed: 3 } });
    expect(d.revoked).toEqual([h.kekVersion]);
    await expectAllDecrypt(cts);
  });
  it("an emergency proves a sample of the branch keys it created, and a sample of one still stops a broken new version before any DEK moves; the clean run costs B + 1 remote unwraps", async () => {
    const cts = await seed();
    const dekBefore = await dekRows();
    const newKek = await h.newKekVersion();
    breakNew(newKek, "fail");
    const d = deps();
    const req = { runId: "em-sample", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek };
    await expect(emergency(d, req, { proofSample: 1 })).rejects.toMatchObject({ code: "ValidationFailed", message: expect.stringContaining("1 of 1 branch keys") as unknown });
    expect(await dekRows()).toEqual(dekBefore);
    expect(d.revoked).toEqual([]);

    // A clean emergency of another compromise: 3 old branch keys opened + 1 new one proven.
    h.peer.admin.clearFaults();
    const other = await h.newKekVersion();
    const unwraps0 = await h.unwraps();
    const state = await emergency(deps(), { runId: "em-sample-2", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: other }, { proofSample: 1 });
    expect(state).toMatchObject({ done: true, outcome: "revoked", counts: { branchKeysCreated: 3, branchKeysValidated: 1, dekRowsWritten: 4 } });
    expect((await h.unwraps()) - unwraps0).toBe(3 + 1);
    await expectAllDecrypt(cts);
  });
});
