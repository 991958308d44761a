// The OpenAPI document gives POST /api/rotations' mode in the workflow's words, with the API's old
// word "manual" still listed but marked deprecated.
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../../lib/http/openapi";

type Schema = { anyOf?: Schema[]; enum?: string[]; const?: string; deprecated?: boolean; description?: string };

describe("the OpenAPI document's rotation mode", () => {
  it("lists normal and emergency, and manual only as a deprecated alias of normal", () => {
    const doc = openApiDocument() as unknown as { paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: { properties: Record<string, Schema> } }> } } }> };
    const mode = doc.paths["/api/rotations"]!.post!.requestBody!.content["application/json"]!.schema.properties.mode!;
    const choices = mode.anyOf ?? [];
    expect(choices.find((c) => c.enum)?.enum).toEqual(["normal", "emergency"]);
    expect(choices.find((c) => c.const === "manual")).toMatchObject({ deprecated: true, description: expect.stringMatching(/alias of "normal"/) });
  });
});
