// The memory inventory adapter answers like the Table one: keyIds read in any spelling, created in
// the canonical one only, and one managed key per vault object.
import { describe, expect, it } from "vitest";
import { RotationConflictError } from "../../../lib/domain/errors";
import type { ManagedKey } from "../../../lib/domain/keys";
import { countReferences, rotateTenantDek } from "../../../lib/orchestration/activities";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { MemoryInventory } from "../../../lib/orchestration/memory";
import { seedKey } from "./fixtures";

const key = (keyId: string, kind: ManagedKey["kind"]): ManagedKey => ({
  keyId, kind, tenant: "contoso", primaryVersion: "a1", versions: [{ version: "a1", state: "primary", createdAt: "2026-01-01T00:00:00Z" }],
});

describe("MemoryInventory: one vault object, one managed key", () => {
  it("refuses a second kind of the same vault object, naming the first, and stores nothing", async () => {
    const inv = new MemoryInventory();
    await inv.put(key("kek:vault1/orders", "kek"), undefined);
    const err = await inv.put(key("signing:vault1/orders", "signing"), undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RotationConflictError);
    expect(err).toMatchObject({ code: "VaultObjectRegistered" });
    expect((err as Error).message).toContain("kek:vault1/orders");
    expect([...inv.rows.keys()]).toEqual(["kek:vault1/orders"]);
  });

  it("reads a key in any spelling and creates it only in the canonical one", async () => {
    const inv = new MemoryInventory();
    await inv.put(key("kek:vault1/orders", "kek"), undefined);
    expect((await inv.get("KEK:VAULT1/Orders"))?.key.keyId).toBe("kek:vault1/orders");
    await expect(inv.put(key("kek:Vault1/Other", "kek"), undefined)).rejects.toMatchObject({ code: "KeyIdNotCanonical", field: "keyId" });
    expect(inv.rows.size).toBe(1);
  });
});

describe("DEKs name their KEK by its canonical keyId", () => {
  it("a DEK rotation naming the KEK in another spelling stores the canonical keyId, so the reference count sees the DEK", async () => {
    const deps = memoryRotationDeps();
    const { keyId, v1 } = await seedKey(deps, "kek", "tenant-kek");
    const r = await rotateTenantDek(deps, { rotationId: "dek:contoso@manual:1", tenant: "contoso", at: "2026-03-01T00:00:00.000Z", kekKeyId: "kek:Demo-Vault/Tenant-KEK" });
    expect((await deps.deks.tenantDeks("contoso")).find((d) => `v${d.dekVersion}` === r.dekVersion)?.kekKeyId).toBe(keyId);
    expect(await countReferences(deps, { kekKeyId: keyId, keepVersion: "none" })).toMatchObject({ byVersion: { [v1]: 1 }, other: 1 });
  });
});
