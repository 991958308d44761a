// A tenant's new DEK never goes under a branch key wrapped under a KEK version other than the one
// the caller checked as the KEK's primary: between an emergency's promotion of the new KEK version
// and its replacement of the branch keys, the tenant's current branch key is still wrapped under the
// compromised version. The DEK's creation refuses (RotationConflictError, the DEK flow retries it)
// and writes nothing; once the emergency has replaced the branch key, the retry succeeds under it.
// Azurite and the Key Vault peer; the real activity over memory ports for inventory and ledger.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RotationConflictError } from "../../../lib/domain/errors";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { kekFromVaults } from "../../../lib/envelope/kek";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import type { HierarchyRuntime } from "../../../lib/hierarchy/durableRuntime";
import { emergency } from "../../../lib/hierarchy/workflows";
import { rotateTenantDek } from "../../../lib/orchestration/activities";
import { KeyVaultRotationAdapter, type RotationDeps } from "../../../lib/orchestration/deps";
import { freshDeps, seedPolicy, T0, testPolicy } from "../orchestration/fixtures";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 2 });
});
afterEach(() => stopHierarchy(h));

describe("a tenant's new DEK and the KEK version its branch key is wrapped under", () => {
  it("is refused (BranchKeyNotUnderKekPrimary, a conflict) when the tenant's branch key is wrapped under a KEK version other than the checked primary, and nothing is written", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const promoted = await h.newKekVersion();
    const err = await writer.create({ tenant: "t-a", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: promoted, rotationRun: "dek:t-a@q4" }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RotationConflictError);
    expect(err).toMatchObject({ code: "BranchKeyNotUnderKekPrimary" });
    expect(await h.deks.get("t-a", "v00000002")).toBeUndefined();
    expect(await h.deks.getPrimary("t-a")).toMatchObject({ dekVersion: 1 });
  });

  it("a DEK rotation between an emergency's promotion and its branch-key replacement is refused and writes nothing; retried after the replacement, its DEK goes under a branch key under the new version", async () => {
    await new HierarchyDeks(h.keys, h.deks).create({ tenant: "t-a", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const compromised = h.kekVersion;
    const promoted = await h.newKekVersion();
    const mem = freshDeps();
    const policyId = await seedPolicy(mem, testPolicy("platform", "platform-default", ["kek"]));
    // The emergency flow has promoted the new version; its hierarchy step has not run yet.
    await mem.inventory.put({ keyId: h.kekKeyId, kind: "kek", tenant: "platform", policyId, primaryVersion: promoted, versions: [{ version: compromised, state: "secondary", createdAt: T0, demotedAt: T0 }, { version: promoted, state: "primary", createdAt: T0 }] }, undefined);
    const deps: RotationDeps = { ...mem, vault: new KeyVaultRotationAdapter(() => h.vault) };
    const rt: HierarchyRuntime = { store: h.store, keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault), sliceMs: 60_000, ratePerSec: 0 };
    const input = { rotationId: "dek:t-a@q4", tenant: "t-a", at: "2026-04-01T00:00:00.000Z" };

    const refused = await rotateTenantDek(deps, input, rt).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(RotationConflictError);
    expect(await h.deks.getPrimary("t-a")).toMatchObject({ dekVersion: 1 });

    const em = await emergency({ keys: h.keys, deks: h.deks, kek: kekFromVaults(() => h.vault) }, { runId: "em-1", kekKeyId: h.kekKeyId, compromisedVersion: compromised, newKekVersion: promoted });
    expect(em.done).toBe(true);
    expect(await rotateTenantDek(deps, input, rt)).toMatchObject({ dekVersion: "v2", reused: false, kekVersion: promoted });
    const made = await h.deks.getPrimary("t-a");
    const branch = made && (await h.keys.store.get(h.kekKeyId, made.branchId, made.branchVersion));
    expect(branch).toMatchObject({ kekVersion: promoted, state: "primary" });
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve("t-a", 2)).resolves.toBeDefined();
  });
});
