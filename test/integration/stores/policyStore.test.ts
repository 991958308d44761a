import { describe, expect, it } from "vitest";
import { InvalidRequestError, RotationConflictError } from "../../../lib/domain/errors";
import { PolicyStore } from "../../../lib/stores/policyStore";
import { freshTable } from "../../support/tables";

const NOW = new Date("2026-11-22T12:00:00Z");
const input = (over: Record<string, unknown> = {}) => ({
  policyId: "quarterly-kek", tenant: "contoso", kinds: ["kek", "dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", ...over,
});
const store = async () => new PolicyStore(await freshTable("pol"), () => NOW);

describe("PolicyStore on Table Storage", () => {
  it("creates, reads, lists, updates with the current etag and deletes a policy", async () => {
    const s = await store();
    const created = await s.put(input(), undefined);
    expect(created.etag).toBeTruthy();
    expect(created.policy.warnBefore).toEqual(["P30D", "P7D", "P1D"]);
    expect(await s.get("contoso", "quarterly-kek")).toEqual(created);

    const updated = await s.put(input({ status: "suspended" }), created.etag);
    expect(updated.etag).not.toBe(created.etag);
    expect((await s.get("contoso", "quarterly-kek"))?.policy.status).toBe("suspended");

    await s.put(input({ policyId: "annual", schedule: { preset: "annual" }, expiresAfter: "P400D" }), undefined);
    const listed = [];
    for await (const p of s.list("contoso")) listed.push(p.policy.policyId);
    expect(listed.sort()).toEqual(["annual", "quarterly-kek"]);

    await s.delete("contoso", "annual", "*");
    expect(await s.get("contoso", "annual")).toBeUndefined();
    await expect(s.delete("contoso", "annual", "*")).rejects.toMatchObject({ code: "PolicyNotFound", status: 404 });
  });

  it("refuses a stale etag with a RotationConflictError and keeps the winner's write", async () => {
    const s = await store();
    const v1 = await s.put(input(), undefined);
    await s.put(input({ maxAttempts: 7 }), v1.etag);
    await expect(s.put(input({ maxAttempts: 9 }), v1.etag)).rejects.toBeInstanceOf(RotationConflictError);
    await expect(s.delete("contoso", "quarterly-kek", v1.etag)).rejects.toBeInstanceOf(RotationConflictError);
    expect((await s.get("contoso", "quarterly-kek"))?.policy.maxAttempts).toBe(7);
  });

  it("lets exactly one of several concurrent writers with the same etag win", async () => {
    const s = await store();
    const v1 = await s.put(input(), undefined);
    const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((n) => s.put(input({ maxAttempts: n }), v1.etag)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected")) expect((r).reason).toBeInstanceOf(RotationConflictError);
  });

  it("refuses to create over an existing policy, and to update one that does not exist", async () => {
    const s = await store();
    await s.put(input(), undefined);
    await expect(s.put(input(), undefined)).rejects.toBeInstanceOf(RotationConflictError);
    await expect(s.put(input({ policyId: "ghost" }), 'W/"datetime\'2026-01-01T00%3A00%3A00.0000000Z\'"')).rejects.toMatchObject({ code: "PolicyNotFound" });
    expect((await s.put(input({ maxAttempts: 4 }), "*")).policy.maxAttempts).toBe(4);
  });

  it("validates before writing: an invalid policy changes nothing", async () => {
    const s = await store();
    await expect(s.put(input({ expiresAfter: "P10D" }), undefined)).rejects.toMatchObject({ code: "PolicyInvalid", field: "expiresAfter" });
    expect(await s.get("contoso", "quarterly-kek")).toBeUndefined();
  });

  it("isolates tenants: same policyId in two tenants, reads and lists scoped by tenant", async () => {
    const s = await store();
    await s.put(input(), undefined);
    await s.put(input({ tenant: "fabrikam", maxAttempts: 8 }), undefined);
    expect((await s.get("contoso", "quarterly-kek"))?.policy.maxAttempts).toBe(3);
    expect((await s.get("fabrikam", "quarterly-kek"))?.policy.maxAttempts).toBe(8);
    expect(await s.get("northwind", "quarterly-kek")).toBeUndefined();
    const fabrikam = [];
    for await (const p of s.list("fabrikam")) fabrikam.push(p.policy.tenant);
    expect(fabrikam).toEqual(["fabrikam"]);
    expect((await s.all()).map((p) => p.tenant).sort()).toEqual(["contoso", "fabrikam"]);
    expect((await s.tenantsWith("quarterly-kek")).sort()).toEqual(["contoso", "fabrikam"]);
  });

  it("refuses a write for another tenant than the caller's scope", async () => {
    const s = await store();
    const err = await s.put(input({ tenant: "fabrikam" }), undefined, { scope: "contoso" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ field: "tenant", status: 403 });
    expect(await s.get("fabrikam", "quarterly-kek")).toBeUndefined();
  });

  it("resolves a key's policy only within the key's tenant and kind", async () => {
    const s = await store();
    await s.put(input({ tenant: "fabrikam" }), undefined);
    await s.put(input({ policyId: "secrets", kinds: ["secret"], schedule: { every: "P30D" }, expiresAfter: "P60D" }), undefined);
    const key = { keyId: "dek:contoso", kind: "dek" as const, tenant: "contoso", versions: [] };
    expect(await s.policyFor({ ...key, policyId: "quarterly-kek" })).toBeUndefined();
    expect(await s.policyFor({ ...key, policyId: "secrets" })).toBeUndefined();
    expect((await s.policyFor({ ...key, tenant: "fabrikam", keyId: "dek:fabrikam", policyId: "quarterly-kek" }))?.tenant).toBe("fabrikam");
  });
});
