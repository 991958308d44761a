import { describe, expect, it } from "vitest";
import { ROUTE_LIST } from "../../../lib/api/routes";
import { openApiDocument, openApiPaths } from "../../../lib/http/openapi";

describe("openApiPaths", () => {
  it("expands an optional last parameter into two paths and drops catch-all and constraint syntax", () => {
    expect(openApiPaths("policies/{policyId?}")).toEqual(["/api/policies", "/api/policies/{policyId}"]);
    expect(openApiPaths("ledger/{*keyId}")).toEqual(["/api/ledger/{keyId}"]);
    expect(openApiPaths("rotations/{rotationId:minlength(3)}/approve")).toEqual(["/api/rotations/{rotationId}/approve"]);
  });
});

describe("openApiDocument", () => {
  it("gives every operation a unique operationId and states the role of every protected route", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string; "x-keyrotor-role"?: string }>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    const protectedRoutes = ROUTE_LIST.filter((r) => r.role !== "none");
    for (const r of protectedRoutes) {
      for (const p of openApiPaths(r.route)) expect(doc.paths[p]?.[r.method.toLowerCase()]?.["x-keyrotor-role"]).toBe(r.role);
    }
  });

  it("documents ids that hold a '/' as the catch-all last part of their paths", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { parameters: { name: string; in: string; description?: string }[] }>> };
    for (const [path, method, name] of [["/api/rotations/approve/{rotationId}", "post", "rotationId"], ["/api/rotations/rollback/{rotationId}", "post", "rotationId"], ["/api/rotations/{rotationId}", "get", "rotationId"], ["/api/locks/break/{keyId}", "post", "keyId"], ["/api/keys/{keyId}", "put", "keyId"]] as const) {
      const param = doc.paths[path]?.[method]?.parameters.find((p) => p.name === name && p.in === "path");
      expect(param?.description, `${method} ${path}`).toMatch(/may hold "\/"/);
    }
    expect(doc.paths["/api/rotations/{rotationId}/approve"]).toBeUndefined();
    expect(doc.paths["/api/locks/{keyId}/break"]).toBeUndefined();
  });

  it("documents the strict request bodies with their required fields", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { required?: string[]; additionalProperties?: unknown } }> } }>> };
    const schema = doc.paths["/api/rotations"]!.post!.requestBody!.content["application/json"]!.schema;
    expect(schema.required).toEqual(["keyId", "reason", "mode"]);
    expect(schema.additionalProperties).toBe(false);
  });
});
