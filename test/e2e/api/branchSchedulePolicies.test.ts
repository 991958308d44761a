// PUT /api/policies with branchKeys (the scheduled branch-key rotation of a KEK): accepted on a KEK
// policy and read back as written; refused with 400 PolicyInvalid naming the field, nothing stored,
// anywhere else or outside P1D..P5Y; the OpenAPI document's policy schema has the field.
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, AUDITOR, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const kekPolicy = { tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" };

describe("PUT /api/policies with branchKeys", () => {
  it("stores a KEK policy's branchKeys.every and serves it back", async () => {
    h = await startApiHost();
    const put = await h.call("PUT", "/api/policies/kek-branches", { as: ADMIN, body: { ...kekPolicy, branchKeys: { every: "P90D" } } });
    expect(put.status, put.body).toBe(201);
    const got = await h.call("GET", "/api/policies/kek-branches", { as: AUDITOR });
    expect(got.status, got.body).toBe(200);
    expect((got.json() as unknown as { policy: { branchKeys?: unknown } }).policy.branchKeys).toEqual({ every: "P90D" });
  });

  it.each([
    ["a policy whose kinds do not include kek", { ...kekPolicy, kinds: ["signing"], branchKeys: { every: "P90D" } }, "branchKeys"],
    ["every shorter than a day", { ...kekPolicy, branchKeys: { every: "PT12H" } }, "branchKeys.every"],
    ["every longer than five years", { ...kekPolicy, branchKeys: { every: "P6Y" } }, "branchKeys.every"],
    ["every not an ISO-8601 duration", { ...kekPolicy, branchKeys: { every: "quarterly" } }, "branchKeys.every"],
    ["an unknown field beside every", { ...kekPolicy, branchKeys: { every: "P90D", tenants: ["t1"] } }, "branchKeys.tenants"],
  ])("refuses %s with 400 PolicyInvalid naming the field and stores nothing", async (_, body, field) => {
    h = await startApiHost();
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", "/api/policies/bad-branches", { as: ADMIN, body });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "PolicyInvalid", field });
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.call("GET", "/api/policies/bad-branches", { as: AUDITOR })).status).toBe(404);
  });

  it("is in the OpenAPI document's policy schema (derived from the domain's)", async () => {
    h = await startApiHost();
    const doc = (await h.call("GET", "/api/openapi.json")).json() as unknown as { paths: Record<string, { put?: { requestBody: { content: Record<string, { schema: { properties: Record<string, { properties?: Record<string, unknown> }> } }> } } }> };
    const put = Object.entries(doc.paths).find(([p]) => p.startsWith("/api/policies/"))?.[1].put;
    expect(put?.requestBody.content["application/json"]?.schema.properties.branchKeys?.properties).toHaveProperty("every");
  });
});
