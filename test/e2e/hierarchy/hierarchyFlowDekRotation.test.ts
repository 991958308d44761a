// A tenant's DEK rotation (the durable DEK flow) for a KEK with branch keys: the new DEK version is
// a format-2 DEK under the tenant's branch key, so a quarterly DEK rotation keeps the tenant in the
// hierarchy (no flat DEK, no remote wrap per DEK, nothing for the next KEK rotation to unwrap).
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite } from "../rotation/stack";
import { envelopeOver, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();

async function rotateDek(h: HierarchyStack, input: { rotationId: string; tenant: string; kekKeyId?: string }): Promise<RotationOutput> {
  const { rotationId, tenant, kekKeyId } = input;
  await h.s.host.client.startNew(DURABLE.orchestrators.rotation, {
    instanceId: instanceIdFor(rotationId), input: { rotationId, keyId: `dek:${tenant}`, trigger: "manual", actor: "alice", ...(kekKeyId ? { kekKeyId } : {}) },
  });
  return (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output as RotationOutput;
}

describe("a tenant DEK rotation under a KEK with branch keys", () => {
  it("makes the new DEK version a format-2 DEK under the tenant's branch key: no flat DEK, no remote wrap, decrypting it costs only the branch key's unwrap, a retry makes none twice", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b"] });
    await h.s.policies.put({ policyId: "tenant-deks", tenant: "t-a", kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
    const wrapsBefore = suite.peers.vault.admin.stats().wrapCalls;
    const out = await rotateDek(h, { rotationId: "dek:t-a@2026Q3", tenant: "t-a", kekKeyId: h.kek.keyId });
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed", versionAfter: "v3", versionBefore: "v2" });
    // No flat DEK written, no remote wrap spent (the DEK is wrapped locally under the branch key).
    expect(await h.s.dekStore.getPrimary("t-a")).toBeUndefined();
    expect(suite.peers.vault.admin.stats().wrapCalls - wrapsBefore).toBe(0);
    const primary = await h.rt.deks.getPrimary("t-a");
    expect(primary).toMatchObject({ format: 2, dekVersion: 3, kekKeyId: h.kek.keyId, state: "primary", rotationRun: "dek:t-a@2026Q3" });
    expect((await h.rt.deks.get("t-a", "v00000002"))?.state).toBe("secondary");
    const branch = await h.rt.store.get(h.kek.keyId, primary!.branchId, primary!.branchVersion);
    expect(branch?.kekVersion).toBe(h.kek.v1);

    // A consumer with a cold cache encrypts under v3 and decrypts it and the old data: one remote
    // unwrap (the tenant's branch key), none per DEK.
    const unwrapsBefore = suite.peers.vault.admin.stats().unwrapCalls;
    const env = envelopeOver(h.rt);
    const ct = await env.encrypt("t-a", Buffer.from("after the DEK rotation"));
    expect((await env.decrypt(ct)).toString()).toBe("after the DEK rotation");
    for (const v of [1, 2]) expect((await env.decrypt(h.cts.get(`t-a/${v}`)!)).toString()).toBe(`t-a data v${v}`);
    expect(suite.peers.vault.admin.stats().unwrapCalls - unwrapsBefore).toBe(1);
    expect(await undecryptable(h)).toEqual([]);

    // The ledger and inventory as for any DEK rotation.
    const entries = await ledgerEntries(h.s, "dek:t-a");
    expect(entries.find((e) => e.type === "VersionCreated")).toMatchObject({ versionAfter: "v3", details: { kekVersion: h.kek.v1 } });
    expect(entries.find((e) => e.type === "Promoted")).toMatchObject({ versionAfter: "v3", versionBefore: "v2" });
    expect((await h.s.inventory.get("dek:t-a"))?.key.primaryVersion).toBe("v3");

    // The same rotation again (a retried activity or a re-run): the same version, nothing new.
    await h.s.host.client.purge(instanceIdFor("dek:t-a@2026Q3"));
    expect((await rotateDek(h, { rotationId: "dek:t-a@2026Q3", tenant: "t-a" })).versionAfter).toBe("v3");
    expect((await h.rt.deks.getPrimary("t-a"))?.dekVersion).toBe(3);
    expect((await h.rt.deks.scan("t-a")).items).toHaveLength(3);

    // The next quarter needs no KEK named: the tenant's format-2 primary names it.
    expect(await rotateDek(h, { rotationId: "dek:t-a@2026Q4", tenant: "t-a" })).toMatchObject({ outcome: "completed", versionAfter: "v4" });
    expect(await h.rt.deks.getPrimary("t-a")).toMatchObject({ format: 2, dekVersion: 4 });
  });
});
