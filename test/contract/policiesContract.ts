// The policy port's contract (lib/ports.ts PolicyPort): policies as data, validated, ETag-guarded,
// scoped by tenant; the policy that governs a key, and none for a key that has none (no adapter
// invents a default). Every refusal changes nothing.
import { describe, expect, it } from "vitest";
import { InvalidRequestError, RotationConflictError } from "../../lib/domain/errors";
import type { ManagedKey } from "../../lib/domain/keys";
import type { PolicyInput } from "../../lib/domain/policy";
import type { PolicyPort } from "../../lib/ports";
import { collect, contractTitle, type AdapterKind } from "./contract";

export interface PoliciesFixture {
  policies: PolicyPort;
}

const input = (tenant: string, policyId: string, over: Partial<PolicyInput> = {}): PolicyInput => ({
  policyId, tenant, kinds: ["kek"], schedule: { every: "P90D" }, expiresAfter: "P365D", ...over,
});
const key = (over: Partial<ManagedKey> = {}): ManagedKey => ({ keyId: "kek:contract-vault/k", kind: "kek", tenant: "contoso", versions: [], ...over });

export function policiesContract(kind: AdapterKind, adapter: string, fixture: () => Promise<PoliciesFixture>): void {
  describe(contractTitle("policies", kind, adapter), () => {
    it("stores a validated policy with defaults filled in and reads it back by tenant and id", async () => {
      const { policies } = await fixture();
      const stored = await policies.put(input("contoso", "quarterly"), undefined);
      expect(stored.policy).toMatchObject({ policyId: "quarterly", tenant: "contoso", overlap: "P7D", status: "active" });
      expect(stored.etag).toBeTruthy();
      expect(await policies.get("contoso", "quarterly")).toEqual(stored);
      expect(await policies.get("fabrikam", "quarterly")).toBeUndefined();
    });

    it("lists one tenant's policies, or every tenant's, and tells which tenants hold an id", async () => {
      const { policies } = await fixture();
      await policies.put(input("contoso", "a"), undefined);
      await policies.put(input("contoso", "b"), undefined);
      await policies.put(input("fabrikam", "a"), undefined);
      expect((await collect(policies.list("contoso"))).map((s) => s.policy.policyId).sort()).toEqual(["a", "b"]);
      expect((await collect(policies.list())).length).toBe(3);
      expect((await policies.all()).map((p) => `${p.tenant}/${p.policyId}`).sort()).toEqual(["contoso/a", "contoso/b", "fabrikam/a"]);
      expect((await policies.tenantsWith("a")).sort()).toEqual(["contoso", "fabrikam"]);
      expect(await policies.tenantsWith("none")).toEqual([]);
    });

    it("refuses invalid input naming the field, and stores nothing", async () => {
      const { policies } = await fixture();
      const err = await policies.put({ ...input("contoso", "bad"), kinds: [] }, undefined).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ field: "kinds" });
      expect(await policies.get("contoso", "bad")).toBeUndefined();
    });

    it("creates only once without an etag, replaces only under the current etag, and '*' does either", async () => {
      const { policies } = await fixture();
      const first = await policies.put(input("contoso", "p"), undefined);
      await expect(policies.put(input("contoso", "p", { overlap: "P9D" }), undefined)).rejects.toBeInstanceOf(RotationConflictError);
      const second = await policies.put(input("contoso", "p", { overlap: "P10D" }), first.etag);
      expect(second.etag).not.toBe(first.etag);
      await expect(policies.put(input("contoso", "p", { overlap: "P11D" }), first.etag)).rejects.toBeInstanceOf(RotationConflictError);
      expect((await policies.get("contoso", "p"))?.policy.overlap).toBe("P10D");
      expect((await policies.put(input("contoso", "p", { overlap: "P12D" }), "*")).policy.overlap).toBe("P12D");
      expect((await policies.put(input("contoso", "fresh"), "*")).policy.policyId).toBe("fresh");
    });

    it("answers a replacement of a policy that does not exist with 404 PolicyNotFound", async () => {
      const { policies } = await fixture();
      const donor = await policies.put(input("contoso", "donor"), undefined);
      const err = await policies.put(input("contoso", "missing"), donor.etag).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ code: "PolicyNotFound", status: 404 });
      expect(await policies.get("contoso", "missing")).toBeUndefined();
    });

    it("governs a key by its policyId in its own tenant, only for a kind the policy covers", async () => {
      const { policies } = await fixture();
      await policies.put(input("contoso", "kek-policy"), undefined);
      await policies.put(input("fabrikam", "theirs"), undefined);
      expect((await policies.policyFor(key({ policyId: "kek-policy" })))?.policyId).toBe("kek-policy");
      expect(await policies.policyFor(key({ policyId: "theirs" }))).toBeUndefined();
      expect(await policies.policyFor(key({ keyId: "signing:contract-vault/s", kind: "signing", policyId: "kek-policy" }))).toBeUndefined();
      expect(await policies.policyFor(key({ policyId: "nowhere" }))).toBeUndefined();
    });

    it("invents no policy: a key without a policyId is governed by none", async () => {
      const { policies } = await fixture();
      await policies.put(input("contoso", "kek-policy"), undefined);
      expect(await policies.policyFor(key())).toBeUndefined();
    });

    it("governs a tenant's DEK without a policyId by the tenant's active DEK policy, never a suspended one", async () => {
      const { policies } = await fixture();
      const dek = key({ keyId: "dek:contoso", kind: "dek" });
      expect(await policies.policyFor(dek)).toBeUndefined();
      await policies.put(input("contoso", "deks-off", { kinds: ["dek"], status: "suspended" }), undefined);
      await policies.put(input("fabrikam", "their-deks", { kinds: ["dek"] }), undefined);
      expect(await policies.policyFor(dek)).toBeUndefined();
      await policies.put(input("contoso", "deks", { kinds: ["dek"] }), undefined);
      expect((await policies.policyFor(dek))?.policyId).toBe("deks");
    });
  });
}
