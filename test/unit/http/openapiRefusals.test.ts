// The OpenAPI document states the refusals issue 21 added: 415 on every state-changing operation.
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../../lib/http/openapi";

describe("openApiDocument refusals", () => {
  it("documents 415 (Content-Type must be application/json) on every POST and PUT, and never on GET", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.entries(p));
    expect(ops.filter(([m]) => m !== "get").length).toBeGreaterThan(0);
    for (const [method, op] of ops) expect("415" in op.responses, method).toBe(method !== "get");
  });
});
