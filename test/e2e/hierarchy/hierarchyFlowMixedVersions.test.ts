// An emergency of a KEK whose branch keys sit under two KEK versions (a KEK rotation that never
// finished): the ones under the compromised version are replaced, the ones under the older,
// uncompromised version are re-wrapped under the new version as well, so the flow ends with every
// branch key under the new version and revokes only the compromised one.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { startRotation } from "../../../lib/orchestration/start";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { keyClient } from "../../support/keyvault";
import { stackSuite, T0, VAULT } from "../rotation/stack";
import { envelopeOver, startHierarchyStack, undecryptable } from "./hierarchyFlowSupport";

const suite = stackSuite();

describe("an emergency of a KEK with branch keys under two versions", () => {
  it("replaces the branch keys under the compromised version, re-wraps the ones under the older version, and revokes only the compromised one", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c"] });
    const shared = await h.rt.store.all(h.kek.keyId);
    // A second version, primary now; an isolated tenant's branch key is made under it.
    const v2 = (await keyClient(suite.peers.vault).createRsaKey(h.kek.name, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
    const row = await h.s.inventory.get(h.kek.keyId);
    await h.s.inventory.put({ ...row!.key, primaryVersion: v2, versions: [{ version: h.kek.v1, state: "secondary", createdAt: T0, demotedAt: T0 }, { version: v2, state: "primary", createdAt: T0 }] }, row!.etag);
    await new HierarchyDeks(h.rt.keys, h.rt.deks).create({ tenant: "t-iso", dekVersion: 1, kekKeyId: h.kek.keyId, kekVersion: v2, isolated: true });
    h.cts.set("t-iso/1", await envelopeOver(h.rt).encrypt("t-iso", Buffer.from("t-iso data v1")));

    const rotationId = `${h.kek.keyId}@emergency:mixed`;
    const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "emergency", actor: "olivia", mode: "emergency", revokeOld: true, compromisedVersion: v2 });
    const out = (await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    const v3 = out.versionAfter!;

    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.every((r) => r.kekVersion === v3), JSON.stringify(after.map((r) => [r.branchId, r.version, r.kekVersion]))).toBe(true);
    // The shared branch keys (under v1) kept their versions; the dedicated one (under v2) was replaced.
    expect(after.map((r) => `${r.branchId}#${r.version}`).sort()).toEqual([...shared.map((r) => `${r.branchId}#${r.version}`), "d-t-iso#2"].sort());
    const vault = Object.fromEntries((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).map((v) => [v.version, v.enabled]));
    expect(vault).toEqual({ [h.kek.v1]: true, [v2]: false, [v3]: true });
    expect(await undecryptable(h)).toEqual([]);
  });
});
