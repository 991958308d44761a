import { describe, expect, it } from "vitest";
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../../../lib/domain/errors";
import type { ManagedKey } from "../../../lib/domain/keys";
import { Inventory } from "../../../lib/stores/inventory";
import { PolicyStore } from "../../../lib/stores/policyStore";
import { freshTable } from "../../support/tables";

const NOW = new Date("2026-11-22T12:00:00Z");

async function setup(): Promise<{ inv: Inventory; policies: PolicyStore }> {
  const policies = new PolicyStore(await freshTable("pol"), () => NOW);
  await policies.put({ policyId: "q", tenant: "contoso", kinds: ["kek", "dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
  await policies.put({ policyId: "fab-only", tenant: "fabrikam", kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
  await policies.put({ policyId: "s", tenant: "contoso", kinds: ["secret"], schedule: { every: "P30D" }, expiresAfter: "P60D" }, undefined);
  return { inv: new Inventory(await freshTable("inv"), policies), policies };
}

const kek = (over: Partial<ManagedKey> = {}): ManagedKey => ({
  keyId: "kek:vault1/tenant-kek", kind: "kek", tenant: "contoso", policyId: "q", primaryVersion: "a1",
  versions: [{ version: "a1", state: "primary", createdAt: "2026-10-01T02:00:00Z", expiresAt: "2027-01-29T02:00:00Z" }],
  ...over,
});

describe("Inventory on Table Storage", () => {
  it("creates and reads back a key with its versions", async () => {
    const { inv } = await setup();
    const created = await inv.create(kek());
    expect(await inv.get("kek:vault1/tenant-kek")).toEqual(created);
    expect(await inv.get("kek:vault1/other")).toBeUndefined();
    await expect(inv.create(kek())).rejects.toBeInstanceOf(RotationConflictError);
  });

  it("refuses a stale explicit etag, on put and on every helper", async () => {
    const { inv } = await setup();
    const v1 = await inv.create(kek());
    await inv.update({ ...v1.key, lastRotationId: "r1" }, v1.etag);
    await expect(inv.update({ ...v1.key, lastRotationId: "r2" }, v1.etag)).rejects.toBeInstanceOf(RotationConflictError);
    await expect(inv.addVersion(v1.key.keyId, { version: "a2", state: "secondary", createdAt: "2026-11-22T00:00:00Z" }, { etag: v1.etag })).rejects.toBeInstanceOf(RotationConflictError);
    await expect(inv.setPrimary(v1.key.keyId, "a1", { etag: v1.etag })).rejects.toBeInstanceOf(RotationConflictError);
    expect((await inv.get(v1.key.keyId))?.key.lastRotationId).toBe("r1");
  });

  it("lets one of ten concurrent updates with the same etag win; the rest conflict", async () => {
    const { inv } = await setup();
    const v1 = await inv.create(kek());
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => inv.update({ ...v1.key, lastRotationId: `r${i}` }, v1.etag)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").every((r) => (r).reason instanceof RotationConflictError)).toBe(true);
  });

  it("helpers without an etag re-read and retry, so concurrent additions all land", async () => {
    const { inv } = await setup();
    await inv.create(kek());
    await Promise.all(["b1", "b2", "b3", "b4"].map((v) => inv.addVersion("kek:vault1/tenant-kek", { version: v, state: "secondary", createdAt: "2026-11-22T00:00:00Z" }, { attempts: 10 })));
    expect((await inv.get("kek:vault1/tenant-kek"))?.key.versions.map((v) => v.version).sort()).toEqual(["a1", "b1", "b2", "b3", "b4"]);
  });

  it("rotates: add a secondary, promote it (old primary becomes secondary), retire the old one — each step idempotent", async () => {
    const { inv } = await setup();
    await inv.create(kek());
    const id = "kek:vault1/tenant-kek";
    const v2 = { version: "a2", state: "secondary" as const, createdAt: "2026-11-22T12:00:00Z", expiresAt: "2027-03-22T12:00:00Z", rotationId: "r@1" };
    const added = await inv.addVersion(id, v2);
    expect((await inv.addVersion(id, v2)).etag).toBe(added.etag);
    const promoted = await inv.setPrimary(id, "a2", { rotated: { at: "2026-11-22T12:01:00Z", rotationId: "r@1" } });
    expect(promoted.key).toMatchObject({ primaryVersion: "a2", lastRotatedAt: "2026-11-22T12:01:00Z", lastRotationId: "r@1" });
    expect(promoted.key.versions.map((v) => `${v.version}:${v.state}`)).toEqual(["a1:secondary", "a2:primary"]);
    expect((await inv.setPrimary(id, "a2", { rotated: { at: "2026-11-22T12:01:00Z", rotationId: "r@1" } })).etag).toBe(promoted.etag);
    const retired = await inv.setVersionState(id, "a1", "retired");
    expect(retired.key.versions[0]!.state).toBe("retired");
    expect((await inv.setVersionState(id, "a1", "retired")).etag).toBe(retired.etag);
  });

  it("guards the version states: no second primary by addition, no state change of the primary, revoked is final", async () => {
    const { inv } = await setup();
    await inv.create(kek({ versions: [...kek().versions, { version: "x", state: "revoked", createdAt: "2026-01-01T00:00:00Z" }] }));
    const id = "kek:vault1/tenant-kek";
    await expect(inv.addVersion(id, { version: "a2", state: "primary", createdAt: "2026-11-22T00:00:00Z" })).rejects.toBeInstanceOf(InvariantViolationError);
    await expect(inv.addVersion(id, { version: "a1", state: "secondary", createdAt: "2026-11-22T00:00:00Z" })).rejects.toMatchObject({ code: "VersionExists" });
    await expect(inv.setVersionState(id, "a1", "retired")).rejects.toMatchObject({ code: "DisablePrimary" });
    await expect(inv.setVersionState(id, "x", "secondary")).rejects.toMatchObject({ code: "VersionRevoked" });
    await expect(inv.setPrimary(id, "x")).rejects.toMatchObject({ code: "CannotPromote" });
    await expect(inv.setPrimary("kek:vault1/none", "a1")).rejects.toMatchObject({ code: "KeyNotFound", status: 404 });
  });

  it("refuses keys whose fields contradict each other, naming the field", async () => {
    const { inv } = await setup();
    const field = (k: ManagedKey) => inv.create(k).then(() => "accepted", (e: InvalidRequestError) => e.field);
    expect(await field(kek({ kind: "dek" }))).toBe("kind");
    expect(await field(kek({ keyId: "kek:bad/vault/name" }))).toBe("keyId");
    expect(await field({ keyId: "dek:fabrikam", kind: "dek", tenant: "contoso", versions: [] })).toBe("tenant");
    expect(await field(kek({ primaryVersion: "zz" }))).toBe("primaryVersion");
    expect(await field(kek({ versions: [...kek().versions, { version: "a1", state: "secondary", createdAt: "2026-10-01T00:00:00Z" }] }))).toBe("versions.1.version");
    expect(await field(kek({ versions: [{ version: "a1", state: "primary", createdAt: "yesterday" }] }))).toBe("versions.0.createdAt");
  });

  it("refuses attaching a policy of another tenant, an unknown policy, or one for other kinds", async () => {
    const { inv } = await setup();
    const err = await inv.create({ keyId: "dek:contoso", kind: "dek", tenant: "contoso", policyId: "fab-only", versions: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ code: "PolicyTenantMismatch", field: "policyId" });
    expect(await inv.get("dek:contoso")).toBeUndefined();
    await expect(inv.create(kek({ policyId: "nope" }))).rejects.toMatchObject({ code: "PolicyNotFound", field: "policyId" });
    await expect(inv.create(kek({ policyId: "s" }))).rejects.toMatchObject({ code: "PolicyKindMismatch" });

    await inv.create(kek({ policyId: undefined }));
    await expect(inv.attachPolicy("kek:vault1/tenant-kek", "fab-only")).rejects.toMatchObject({ code: "PolicyTenantMismatch" });
    expect((await inv.attachPolicy("kek:vault1/tenant-kek", "q")).key.policyId).toBe("q");
    expect((await inv.attachPolicy("kek:vault1/tenant-kek", undefined)).key.policyId).toBeUndefined();
  });

  it("keeps recording rotations of a key whose policy was deleted meanwhile", async () => {
    const { inv, policies } = await setup();
    await inv.create(kek());
    await policies.delete("contoso", "q", "*");
    await inv.addVersion("kek:vault1/tenant-kek", { version: "a2", state: "secondary", createdAt: "2026-11-22T00:00:00Z" });
    const promoted = await inv.setPrimary("kek:vault1/tenant-kek", "a2", { rotated: { at: "2026-11-22T00:01:00Z", rotationId: "r@2" } });
    expect(promoted.key).toMatchObject({ policyId: "q", primaryVersion: "a2", lastRotationId: "r@2" });
  });

  it("lists all keys or one tenant's, page by page", async () => {
    const { inv } = await setup();
    for (const t of ["contoso", "fabrikam", "northwind"]) await inv.create({ keyId: `dek:${t}`, kind: "dek", tenant: t, versions: [] });
    for (let i = 0; i < 5; i++) await inv.create(kek({ keyId: `kek:vault1/k${i}`, policyId: undefined }));
    const all = [];
    for await (const k of inv.list({ pageSize: 3 })) all.push(k.key.keyId);
    expect(all).toHaveLength(8);
    const contoso = [];
    for await (const k of inv.list({ tenant: "contoso", pageSize: 2 })) contoso.push(k.key.keyId);
    expect(contoso.sort()).toEqual(["dek:contoso", "kek:vault1/k0", "kek:vault1/k1", "kek:vault1/k2", "kek:vault1/k3", "kek:vault1/k4"]);
    const first = await inv.page({ pageSize: 3 });
    expect(first.items).toHaveLength(3);
    expect(first.continuation).toBeDefined();
    const second = await inv.page({ pageSize: 3, continuation: first.continuation! });
    expect(second.items.map((k) => k.key.keyId)).not.toContain(first.items[0]!.key.keyId);
  });

  it("stores keys with long version histories across several properties", async () => {
    const { inv } = await setup();
    const versions = Array.from({ length: 600 }, (_, i) => ({ version: `${i}`.padStart(32, "0"), state: "retired" as const, createdAt: "2026-01-01T00:00:00Z", expiresAt: "2026-06-01T00:00:00Z", rotationId: `kek:vault1/tenant-kek@2026-01-01T00:00:00.000Z#${i}` }));
    const key = kek({ versions: [...versions, ...kek().versions] });
    await inv.create(key);
    expect((await inv.get(key.keyId))?.key.versions).toHaveLength(601);
  });
});

describe("Inventory on Table Storage: one rule book for versions, one vault object per key", () => {
  it("setPrimary records when the old primary was demoted", async () => {
    const { inv } = await setup();
    await inv.create(kek());
    await inv.addVersion("kek:vault1/tenant-kek", { version: "a2", state: "secondary", createdAt: "2026-11-22T00:00:00Z" });
    const promoted = await inv.setPrimary("kek:vault1/tenant-kek", "a2", { rotated: { at: "2026-11-22T00:01:00Z", rotationId: "r@2" } });
    expect(promoted.key.versions.find((v) => v.version === "a1")).toMatchObject({ state: "secondary", demotedAt: "2026-11-22T00:01:00Z" });
  });

  it("refuses a replaced row that no sequence of version operations reaches, and keeps the stored row", async () => {
    const { inv } = await setup();
    const created = await inv.create(kek({ versions: [...kek().versions, { version: "x", state: "revoked", createdAt: "2026-01-01T00:00:00Z" }] }));
    const revived: ManagedKey = { ...created.key, primaryVersion: "x", versions: [{ ...created.key.versions[0]!, state: "secondary", demotedAt: "2026-11-22T00:00:00Z" }, { ...created.key.versions[1]!, state: "primary" }] };
    await expect(inv.update(revived, created.etag)).rejects.toMatchObject({ code: "VersionRevoked", version: "x" });
    await expect(inv.update({ ...created.key, versions: created.key.versions.slice(0, 1) }, created.etag)).rejects.toMatchObject({ code: "VersionRemoved" });
    await expect(inv.setPrimary(created.key.keyId, "x")).rejects.toMatchObject({ code: "CannotPromote" });
    expect(await inv.get(created.key.keyId)).toEqual(created);
  });

  it("reads a key by its keyId in any spelling, and creates keys only under the canonical spelling", async () => {
    const { inv } = await setup();
    const created = await inv.create(kek());
    expect(await inv.get("KEK:Vault1/Tenant-KEK")).toEqual(created);
    await expect(inv.create(kek({ keyId: "kek:Vault1/Other" }))).rejects.toMatchObject({ code: "KeyIdNotCanonical", field: "keyId" });
    expect(await inv.get("kek:vault1/other")).toBeUndefined();
  });

  it("refuses a second key for the same vault object under any kind, naming the first; listings show keys only", async () => {
    const { inv } = await setup();
    await inv.create(kek());
    const err = await inv.create({ keyId: "signing:vault1/tenant-kek", kind: "signing", tenant: "contoso", primaryVersion: "a1", versions: kek().versions }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RotationConflictError);
    expect(err).toMatchObject({ code: "VaultObjectRegistered" });
    expect((err as Error).message).toContain("kek:vault1/tenant-kek");
    expect(await inv.get("signing:vault1/tenant-kek")).toBeUndefined();
    const all = [];
    for await (const k of inv.list()) all.push(k.key.keyId);
    expect(all).toEqual(["kek:vault1/tenant-kek"]);
  });

  it("of two concurrent registrations of one vault object under two kinds, exactly one is stored", async () => {
    const { inv } = await setup();
    const results = await Promise.allSettled([
      inv.create(kek()),
      inv.create({ keyId: "signing:vault1/tenant-kek", kind: "signing", tenant: "contoso", primaryVersion: "a1", versions: kek().versions }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const stored = [(await inv.get("kek:vault1/tenant-kek")) !== undefined, (await inv.get("signing:vault1/tenant-kek")) !== undefined];
    expect(stored.filter(Boolean)).toHaveLength(1);
  });

  it("takes over a claim whose key row was never written (a creation that failed after claiming) once it is old, not before", async () => {
    const table = await freshTable("inv");
    const pk = "vault-object:vault1%2ftenant-kek";
    await table.createEntity({ partitionKey: pk, rowKey: "claim", keyId: "signing:vault1/tenant-kek", claimedAt: "2026-11-22T11:58:00.000Z" });
    await expect(new Inventory(table, undefined, () => NOW).create(kek({ policyId: undefined }))).rejects.toMatchObject({ code: "VaultObjectRegistered" });
    const later = new Inventory(table, undefined, () => new Date(NOW.getTime() + 10 * 60_000));
    const created = await later.create(kek({ policyId: undefined }));
    expect(await later.get("kek:vault1/tenant-kek")).toEqual(created);
    expect((await table.getEntity<{ keyId: string }>(pk, "claim")).keyId).toBe("kek:vault1/tenant-kek");
  });
});
