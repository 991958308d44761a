// The OpenAPI document is a valid OpenAPI 3.1 document (checked offline against the official
// schema), says how to authenticate and where the API is, describes every body, and links only
// files that exist.
import { existsSync } from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../../lib/http/openapi";

interface Op {
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  security?: Record<string, unknown>[];
}
interface Doc {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Op>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }>; schemas: Record<string, unknown> };
}
const doc = openApiDocument() as unknown as Doc;
const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as const));

/** A schema that says something about the body beyond "an object". */
function describes(s: Record<string, unknown> | undefined): boolean {
  if (!s) return false;
  return ["$ref", "properties", "anyOf", "oneOf", "const", "enum"].some((k) => k in s);
}

describe("the OpenAPI document", () => {
  it("is valid against the official OpenAPI 3.1 schema", async () => {
    const result = await new Validator().validate(openApiDocument());
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("declares the bearer token every protected operation takes, and the servers", () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    for (const [name, op] of ops) {
      if (op.security?.length === 0) continue;
      expect(op.security, name).toContainEqual({ bearerAuth: [] });
    }
    expect(doc.servers?.map((s) => s.url)).toEqual(expect.arrayContaining([expect.stringMatching(/^https:\/\//), "http://127.0.0.1:7071"]));
  });

  it.each(ops)("%s describes its success response body and every request body", (_, op) => {
    const success = Object.entries(op.responses).filter(([code]) => code.startsWith("2"));
    expect(success.length).toBeGreaterThan(0);
    for (const [code, r] of success) expect(describes(r.content?.["application/json"]?.schema), code).toBe(true);
    if (op.requestBody) expect(describes(op.requestBody.content["application/json"]?.schema)).toBe(true);
  });

  it("describes a policy body field by field, expiresAfter required and unknown fields refused", () => {
    const body = doc.paths["/api/policies/{policyId}"]!.put!.requestBody!.content["application/json"]!.schema as { required?: string[]; properties?: Record<string, unknown>; additionalProperties?: unknown };
    expect(body.required).toEqual(expect.arrayContaining(["tenant", "kinds", "schedule", "expiresAfter"]));
    expect(Object.keys(body.properties ?? {})).toEqual(expect.arrayContaining(["rotateBefore", "overlap", "warnBefore", "windows", "freezes"]));
    expect(body.additionalProperties).toBe(false);
  });

  it("links only documents that exist in the repository", () => {
    const links = [...JSON.stringify(openApiDocument()).matchAll(/\b((?:docs|lib|infra)\/[A-Za-z0-9_./-]+\.(?:md|ts|json|bicep))\b/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(existsSync(path.resolve(__dirname, "../../..", l)), l).toBe(true);
  });
});
