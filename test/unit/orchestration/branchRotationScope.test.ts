// Which branch keys a branch-key rotation names: every one, a tenant group, or branch ids as the
// branch-key store names them. The flow input, the hierarchy activity and the API body share one schema.
import { describe, expect, it } from "vitest";
import { PostRotationBody } from "../../../lib/api/rotations";
import { HierarchyBranchRotationInput } from "../../../lib/hierarchy/durableActivities";
import { openApiDocument } from "../../../lib/http/openapi";
import { BranchKeysScopeSchema, RotationInputSchema } from "../../../lib/orchestration/flows/types";

const base = { rotationId: "r1", keyId: "kek:v/k", trigger: "manual" as const, actor: "op" };

describe("branch-key rotation scope", () => {
  it("accepts true, {tenants} and {branchIds} in the flow input", () => {
    for (const branchKeys of [true, { tenants: ["t1"] }, { branchIds: ["s256-00017", "d-acme"] }] as const) {
      expect(RotationInputSchema.parse({ ...base, branchKeys }).branchKeys).toEqual(branchKeys);
    }
  });

  it("refuses branch ids the store cannot name, an empty list, more than 1000 ids, and both variants at once", () => {
    expect(BranchKeysScopeSchema.safeParse({ branchIds: ["s256-00300"] }).success).toBe(false); // index not below count
    expect(BranchKeysScopeSchema.safeParse({ branchIds: ["../x"] }).success).toBe(false);
    expect(BranchKeysScopeSchema.safeParse({ branchIds: [] }).success).toBe(false);
    expect(BranchKeysScopeSchema.safeParse({ branchIds: Array.from({ length: 1001 }, (_, i) => `d-t${i}`) }).success).toBe(false);
    expect(BranchKeysScopeSchema.safeParse({ branchIds: ["d-a"], tenants: ["a"] }).success).toBe(false);
    expect(BranchKeysScopeSchema.safeParse(false).success).toBe(false);
  });

  it("the API body and the hierarchy activity take {branchIds}", () => {
    const body = PostRotationBody.parse({ keyId: "kek:v/k", reason: "quarterly branch keys", mode: "normal", branchKeys: { branchIds: ["s256-00001"] } });
    expect(body.branchKeys).toEqual({ branchIds: ["s256-00001"] });
    expect(HierarchyBranchRotationInput.parse({ rotationId: "r", keyId: "kek:v/k", actor: "a", kekVersion: "v1", branchIds: ["d-acme"] }).branchIds).toEqual(["d-acme"]);
    expect(HierarchyBranchRotationInput.safeParse({ rotationId: "r", keyId: "kek:v/k", actor: "a", kekVersion: "v1", branchIds: ["d-a"], tenants: ["a"] }).success).toBe(false);
  });

  it("the OpenAPI document's POST /api/rotations body offers {branchIds} with the branch-id pattern", () => {
    const doc = JSON.stringify(openApiDocument());
    expect(doc).toContain('"branchIds":{"minItems":1,"maxItems":1000,"type":"array","items":{"type":"string","minLength":1,"maxLength":140,"pattern":"^(s[1-9][0-9]{0,4}-[0-9]{5}|d-[A-Za-z0-9-]{1,127})$"}}');
  });

  it("the flow input refuses branchKeys with emergency mode, migrateFlat or a key that is not a KEK", () => {
    for (const extra of [{ mode: "emergency" }, { migrateFlat: true }, { keyId: "signing:v/s" }, { compromisedVersion: "v1" }]) {
      const r = RotationInputSchema.safeParse({ ...base, branchKeys: true, ...extra });
      expect(r.success, JSON.stringify(extra)).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(["branchKeys"]);
    }
  });
});
