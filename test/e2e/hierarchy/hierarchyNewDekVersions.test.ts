// The emergency's optional "new DEK versions for every tenant" (the approval's newDekVersions flag):
// every tenant gets one new primary DEK version wrapped under its branch key's NEW version, so
// consumers re-encrypt under it; the older versions stay and decrypt; a crash mid-way resumes
// without a second new version for anyone. Real components (Key Vault peer over HTTPS, Azurite).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import type { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import { emergency, type HierarchyDeps } from "../../../lib/hierarchy/workflows";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

const TENANTS = ["t-a", "t-b", "t-c", "t-d", "t-iso"];

/** Two DEK versions per tenant (t-iso on a dedicated branch key), a ciphertext under each. */
async function seed(): Promise<Map<string, string>> {
  const writer = new HierarchyDeks(h.keys, h.deks);
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined, { primaryTtlMs: 0 }));
  const cts = new Map<string, string>();
  for (const tenant of TENANTS) {
    for (const v of [1, 2]) {
      await writer.create({ tenant, dekVersion: v, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: tenant === "t-iso" });
      cts.set(`${tenant}/${v}`, await env.encrypt(tenant, Buffer.from(`${tenant} data v${v}`)));
    }
  }
  return cts;
}

function deps(deks: HierarchyDekStore = h.deks): HierarchyDeps {
  return {
    keys: h.keys, deks, kek: kekFromVaults(() => h.vault), flat: h.flat,
    revokeKekVersion: (_k, v) => h.vault.updateVersion("tenant-kek", v, { enabled: false }).then(() => undefined),
  };
}

/** Every tenant's primary DEK and every DEK version it has. */
async function dekVersions(): Promise<Map<string, { primary: number; versions: number[]; branchVersion: number }>> {
  const out = new Map<string, { primary: number; versions: number[]; branchVersion: number }>();
  for (const tenant of TENANTS) {
    const primary = (await h.deks.getPrimary(tenant))!;
    const versions: number[] = [];
    for (let c: string | undefined, first = true; first || c; first = false) {
      const page = await h.deks.scan(tenant, c);
      versions.push(...page.items.map((d) => d.dekVersion));
      c = page.continuation;
    }
    out.set(tenant, { primary: primary.dekVersion, versions: versions.sort(), branchVersion: primary.branchVersion });
  }
  return out;
}

async function expectOldDecryptAndNewEncryptUnder(cts: Map<string, string>, dekVersion: number): Promise<void> {
  const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, undefined, { primaryTtlMs: 0 }));
  for (const [k, ct] of cts) expect((await env.decrypt(ct)).toString()).toBe(`${k.split("/")[0]} data v${k.split("/")[1]}`);
  for (const tenant of TENANTS) {
    const ct = await env.encrypt(tenant, Buffer.from(`${tenant} re-encrypted`));
    expect(ct.split(".")[2]).toBe(`${dekVersion}`);
    expect((await env.decrypt(ct)).toString()).toBe(`${tenant} re-encrypted`);
  }
}

describe("emergency with new DEK versions for every tenant", () => {
  it("gives every tenant one new primary DEK version under its branch key's new version; the older versions stay and decrypt, and new data is encrypted under the new version", async () => {
    const cts = await seed();
    const newKek = await h.newKekVersion();
    const state = await emergency(deps(), { runId: "em-new-deks", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek, newDekVersions: true });
    expect(state).toMatchObject({ done: true, outcome: "revoked", counts: { dekRowsWritten: 10, dekVersionsCreated: TENANTS.length } });
    for (const [tenant, v] of await dekVersions()) expect(v, tenant).toEqual({ primary: 3, versions: [1, 2, 3], branchVersion: 2 });
    await expectOldDecryptAndNewEncryptUnder(cts, 3);
  });

  it("without the flag no tenant gets a new DEK version", async () => {
    await seed();
    const newKek = await h.newKekVersion();
    const state = await emergency(deps(), { runId: "em-no-new-deks", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek });
    expect(state.counts.dekVersionsCreated).toBeUndefined();
    for (const [tenant, v] of await dekVersions()) expect(v, tenant).toEqual({ primary: 2, versions: [1, 2], branchVersion: 2 });
  });

  it("crashed part-way through the new versions, the resumed run (the flag fixed by the plan, not passed again) gives the remaining tenants theirs and nobody a second one", async () => {
    const cts = await seed();
    const newKek = await h.newKekVersion();
    let puts = 0;
    const crashing = Object.create(h.deks) as HierarchyDekStore;
    crashing.put = async (r) => {
      if (++puts === 3) throw new Error("crash during the new DEK versions");
      return h.deks.put(r);
    };
    const req = { runId: "em-new-deks-crash", kekKeyId: h.kekKeyId, compromisedVersion: h.kekVersion, newKekVersion: newKek };
    await expect(emergency(deps(crashing), req, { newDekVersions: true, partitions: 1 })).rejects.toThrow("crash during the new DEK versions");
    expect((await h.keys.store.run<{ step: string }>(req.runId))?.state.step).toBe("newDeks");
    const made = [...(await dekVersions()).values()].filter((v) => v.primary === 3).length;
    expect(made).toBe(2);

    const state = await emergency(deps(), req);
    expect(state).toMatchObject({ done: true, outcome: "revoked" });
    // The crashed attempt's count was not checkpointed (it failed mid-step): the resumed run made the rest.
    expect(state.counts.dekVersionsCreated).toBe(TENANTS.length - 2);
    for (const [tenant, v] of await dekVersions()) expect(v, tenant).toEqual({ primary: 3, versions: [1, 2, 3], branchVersion: 2 });
    await expectOldDecryptAndNewEncryptUnder(cts, 3);
  });
});
