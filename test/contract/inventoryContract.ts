// The inventory port's contract (lib/ports.ts InventoryPort): what MemoryInventory and the Table
// Storage Inventory both do, refusals included. Every refusal changes nothing.
import { describe, expect, it } from "vitest";
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../../lib/domain/errors";
import { canonicalKeyId, type ManagedKey } from "../../lib/domain/keys";
import type { InventoryPort, PolicyPort } from "../../lib/ports";
import { collect, contractTitle, type AdapterKind } from "./contract";

export interface InventoryFixture {
  inventory: InventoryPort;
  /** The policies the inventory checks attachments against. */
  policies: PolicyPort;
}

const T0 = "2026-01-01T00:00:00.000Z";

function kek(name: string, over: Partial<ManagedKey> = {}): ManagedKey {
  return { keyId: `kek:contract-vault/${name}`, kind: "kek", tenant: "contoso", primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: T0 }], ...over };
}

const policy = (tenant: string, policyId: string, kinds: string[]) => ({ policyId, tenant, kinds, schedule: { every: "P90D" }, expiresAfter: "P365D" });

export function inventoryContract(kind: AdapterKind, adapter: string, fixture: () => Promise<InventoryFixture>): void {
  describe(contractTitle("inventory", kind, adapter), () => {
    it("creates a key and reads it back with its etag, by its keyId in any spelling", async () => {
      const { inventory } = await fixture();
      const key = kek("read-back");
      const created = await inventory.create(key);
      expect(created.key).toEqual(key);
      const read = await inventory.get(key.keyId);
      expect(read).toEqual({ key, etag: created.etag });
      const spelling = "kek:CONTRACT-VAULT/read-back";
      expect(canonicalKeyId(spelling)).toBe(key.keyId);
      expect((await inventory.get(spelling))?.key).toEqual(key);
      expect(await inventory.get("kek:contract-vault/absent")).toBeUndefined();
    });

    it("lists every key with its etag, and a tenant's keys only when asked", async () => {
      const { inventory } = await fixture();
      const a = await inventory.create(kek("list-a"));
      const b = await inventory.create(kek("list-b", { tenant: "fabrikam" }));
      const all = await collect(inventory.list());
      expect(all.map((r) => r.key.keyId).sort()).toEqual([a.key.keyId, b.key.keyId]);
      expect(all.find((r) => r.key.keyId === a.key.keyId)?.etag).toBe(a.etag);
      expect((await collect(inventory.list({ tenant: "fabrikam" }))).map((r) => r.key.keyId)).toEqual([b.key.keyId]);
    });

    it("refuses to create a key twice (RotationConflictError) and keeps the first", async () => {
      const { inventory } = await fixture();
      const first = await inventory.create(kek("twice"));
      await expect(inventory.create(kek("twice", { tenant: "fabrikam" }))).rejects.toBeInstanceOf(RotationConflictError);
      expect(await inventory.get(first.key.keyId)).toEqual(first);
    });

    it("replaces a key only under the etag it was read with; a stale etag is a RotationConflictError", async () => {
      const { inventory } = await fixture();
      const first = await inventory.create(kek("etag"));
      const moved: ManagedKey = { ...first.key, lastRotatedAt: "2026-02-01T00:00:00.000Z", lastRotationId: "r1" };
      const etag = await inventory.put(moved, first.etag);
      expect(etag).not.toBe(first.etag);
      await expect(inventory.put({ ...moved, lastRotationId: "r2" }, first.etag)).rejects.toBeInstanceOf(RotationConflictError);
      expect(await inventory.get(moved.keyId)).toEqual({ key: moved, etag });
    });

    it("answers a replacement of a key that is not in the inventory with 404 KeyNotFound", async () => {
      const { inventory } = await fixture();
      const other = await inventory.create(kek("etag-donor"));
      const err = await inventory.put(kek("never-created"), other.etag).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ code: "KeyNotFound", status: 404 });
      expect(await inventory.get("kek:contract-vault/never-created")).toBeUndefined();
    });

    it("refuses a key whose fields contradict each other, naming the field, and stores nothing", async () => {
      const { inventory } = await fixture();
      const cases: [ManagedKey, string][] = [
        [kek("wrong-kind", { kind: "signing" }), "kind"],
        [{ keyId: "dek:contoso", kind: "dek", tenant: "fabrikam", versions: [] }, "tenant"],
        [kek("bad-tenant", { tenant: "no spaces" }), "tenant"],
        [kek("no-pointer", { primaryVersion: "v2" }), "primaryVersion"],
        [kek("bad-instant", { versions: [{ version: "v1", state: "primary", createdAt: "yesterday" }] }), "versions.0.createdAt"],
      ];
      for (const [key, field] of cases) {
        const err = await inventory.create(key).catch((e: unknown) => e);
        expect(err, key.keyId).toBeInstanceOf(InvalidRequestError);
        expect(err, key.keyId).toMatchObject({ field });
        expect(await inventory.get(key.keyId)).toBeUndefined();
      }
    });

    it("writes new keys under their canonical keyId only", async () => {
      const { inventory } = await fixture();
      await expect(inventory.create(kek("x", { keyId: "kek:CONTRACT-VAULT/upper" }))).rejects.toBeInstanceOf(InvalidRequestError);
      expect(await inventory.get("kek:contract-vault/upper")).toBeUndefined();
    });

    it("manages one vault object as one key: a second kind naming the same object is refused", async () => {
      const { inventory } = await fixture();
      await inventory.create(kek("one-object"));
      const signing: ManagedKey = { ...kek("one-object"), keyId: "signing:contract-vault/one-object", kind: "signing" };
      await expect(inventory.create(signing)).rejects.toBeInstanceOf(RotationConflictError);
      expect(await inventory.get(signing.keyId)).toBeUndefined();
    });

    it("refuses a replacement the version rule book does not reach (a revoked version back in use)", async () => {
      const { inventory } = await fixture();
      const key = kek("rules", { primaryVersion: "v2", versions: [{ version: "v1", state: "revoked", createdAt: T0 }, { version: "v2", state: "primary", createdAt: T0 }] });
      const first = await inventory.create(key);
      const revived: ManagedKey = { ...key, primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: T0 }, { version: "v2", state: "secondary", createdAt: T0 }] };
      await expect(inventory.put(revived, first.etag)).rejects.toBeInstanceOf(InvariantViolationError);
      expect(await inventory.get(key.keyId)).toEqual(first);
    });

    it("attaches only a policy of the key's own tenant that covers its kind", async () => {
      const { inventory, policies } = await fixture();
      await policies.put(policy("contoso", "kek-policy", ["kek"]), undefined);
      await policies.put(policy("contoso", "secret-policy", ["secret"]), undefined);
      await policies.put(policy("fabrikam", "theirs", ["kek"]), undefined);
      const refusals: [string, string][] = [["secret-policy", "PolicyKindMismatch"], ["theirs", "PolicyTenantMismatch"], ["nowhere", "PolicyNotFound"]];
      for (const [policyId, code] of refusals) {
        const key = kek(`attach-${policyId}`, { policyId });
        const err = await inventory.create(key).catch((e: unknown) => e);
        expect(err, policyId).toBeInstanceOf(InvalidRequestError);
        expect(err, policyId).toMatchObject({ code, field: "policyId" });
        expect(await inventory.get(key.keyId)).toBeUndefined();
      }
      const ok = await inventory.create(kek("attach-ok", { policyId: "kek-policy" }));
      expect((await inventory.get(ok.key.keyId))?.key.policyId).toBe("kek-policy");
    });
  });
}
