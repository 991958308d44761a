// Retirement with the key hierarchy (a version is disabled only once nothing references it): a KEK version that still wraps a branch key
// protects every DEK under that branch key, so the retirement workflow's zero-reference count
// includes branch-key records, not only flat DEKs. Real parts: durable host with history in
// Azurite, Key Vault peer, compose(cfg) from settings.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { rotateKek } from "../../../lib/hierarchy/workflows";
import { keyClient } from "../../support/keyvault";
import { ledgerEntries, stackSuite, T0, VAULT } from "../rotation/stack";
import { startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();

/** v2 made in the vault and primary in the inventory; v1 secondary since T0 (its overlap long over). */
async function promoteSecondVersion(h: HierarchyStack): Promise<string> {
  const v2 = (await keyClient(suite.peers.vault).createRsaKey(h.kek.name, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
  const row = await h.s.inventory.get(h.kek.keyId);
  await h.s.inventory.put({
    ...row!.key, primaryVersion: v2,
    versions: [{ version: h.kek.v1, state: "secondary", createdAt: T0, demotedAt: T0 }, { version: v2, state: "primary", createdAt: T0 }],
  }, row!.etag);
  return v2;
}

async function retire(h: HierarchyStack, rotationId: string): Promise<RotationOutput> {
  const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice" }, { orchestrator: DURABLE.orchestrators.retirement });
  return (await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 })).output as RotationOutput;
}

const enabled = async (h: HierarchyStack, version: string): Promise<boolean | undefined> =>
  (await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).find((v) => v.version === version)?.enabled;

describe("retirement of a KEK version with branch keys", () => {
  it("keeps a KEK version enabled while branch keys are wrapped under it, though no flat DEK references it; retires it once they are re-wrapped", async () => {
    const h = await startHierarchyStack(suite);
    const v2 = await promoteSecondVersion(h);
    expect(await h.rt.store.countUnder(h.kek.keyId, h.kek.v1)).toBeGreaterThan(0);

    const kept = await retire(h, `${h.kek.keyId}@retire:1`);
    expect(kept.outcome, JSON.stringify(kept)).toBe("completed");
    expect(kept.counts).toMatchObject({ candidates: 1, kept: 1, retired: 0 });
    expect(await enabled(h, h.kek.v1)).toBe(true);
    expect((await h.s.inventory.get(h.kek.keyId))?.key.versions.find((v) => v.version === h.kek.v1)?.state).toBe("secondary");
    expect(await undecryptable(h)).toEqual([]);

    // The branch keys re-wrapped under v2: now nothing references v1.
    await rotateKek({ keys: h.rt.keys, deks: h.rt.deks, kek: h.rt.kek }, { runId: "rewrap-to-v2", kekKeyId: h.kek.keyId, newKekVersion: v2 });
    const retired = await retire(h, `${h.kek.keyId}@retire:2`);
    expect(retired.counts).toMatchObject({ candidates: 1, kept: 0, retired: 1 });
    expect(await enabled(h, h.kek.v1)).toBe(false);
    expect(await undecryptable(h)).toEqual([]);
    const entries = await ledgerEntries(h.s, h.kek.keyId);
    expect(entries.filter((e) => e.type === "Retired").map((e) => e.entryId)).toEqual([`${h.kek.keyId}@retire:2#retired:${h.kek.v1}`]);
  });
});
