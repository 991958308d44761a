// The memory inventory adapter answers like the Table one: keyIds read in any spelling, created in
// the canonical one only, and one managed key per vault object.
import { describe, expect, it } from "vitest";
import { RotationConflictError } from "../../../lib/domain/errors";
import type { ManagedKey } from "../../../lib/domain/keys";
import { MemoryInventory } from "../../../lib/orchestration/memory";

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
