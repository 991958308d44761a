// Every JSON example the README and docs/ hand a user is accepted by the API as written: each
// request body goes through the validation its handler runs (the same zod schema, and for a policy
// the whole domain validation via putPolicy), and each response example has the shape the OpenAPI
// document gives (test/unit/http/openapiResponseSchemas.ts).
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { BreakLockBody } from "../../../lib/api/locks";
import { putPolicy } from "../../../lib/api/queries";
import { RegisterKeyBody } from "../../../lib/api/registration";
import { RollbackBody } from "../../../lib/api/rollback";
import type { RotationClient } from "../../../lib/api/ports";
import { ApproveBody, CompromiseBody, PostRotationBody, requestRotation, RotationRequestBody } from "../../../lib/api/rotations";
import { memoryApiServices } from "../../../lib/api/services";
import { canonicalKeyId, parseKeyId } from "../../../lib/domain/keys";
import { validate } from "../../../lib/http/api";
import { openApiDocument, openApiPaths } from "../../../lib/http/openapi";
import { parsePrincipal, ROLES } from "../../../lib/http/principal";
import { ROUTES } from "../../../lib/api/routes";
import { isRouteName, responseMismatch } from "../http/openapiResponseSchemas";
import { curlExamples, docFiles, fencedJsonExamples, inlineJsonExamples, ROOT } from "./docExamples";

/** What each handler in functions/ does with a body before acting (params: the route's). */
const REQUESTS: Record<string, (body: unknown, params: Record<string, string>) => Promise<unknown>> = {
  putPolicy: async (body, params) => {
    const { services } = memoryApiServices();
    return putPolicy(services, { id: "ada", name: "ada", roles: [ROLES.admin] }, params.policyId ?? String((body as { policyId?: unknown }).policyId), body, undefined);
  },
  putKey: async (body, params) => {
    if (params.keyId !== undefined) canonicalKeyId(params.keyId);
    return validate(RegisterKeyBody, body);
  },
  // The whole request path but the orchestration: the body rules (reason length, version and
  // revokeOld only in an emergency) run in requestRotation, against the key the docs registered.
  postRotation: async (body) => {
    const valid = validate(PostRotationBody, body);
    const { services, rotation } = memoryApiServices();
    const { kind } = parseKeyId(valid.keyId);
    await rotation.inventory.put({ keyId: canonicalKeyId(valid.keyId), kind, tenant: "contoso", primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: "2026-01-01T00:00:00.000Z" }] }, undefined);
    const started: string[] = [];
    const client: RotationClient = { startNew: async (_o, { instanceId }) => (started.push(instanceId), instanceId), getStatus: async () => undefined };
    const accepted = await requestRotation(services, client, { id: "olivia", name: "olivia", roles: [ROLES.operator] }, valid);
    expect(started.length + (accepted.status === "pendingApproval" ? 1 : 0)).toBe(1);
    return accepted;
  },
  postCompromise: async (body) => validate(CompromiseBody, body),
  approveRotation: async (body) => validate(ApproveBody, body),
  rollbackRotation: async (body) => validate(RollbackBody, body),
  breakLock: async (body) => validate(BreakLockBody, body),
};
const STRICT_BODIES: z.ZodType[] = [RotationRequestBody, CompromiseBody, ApproveBody, RollbackBody, BreakLockBody, RegisterKeyBody];

const curls = docFiles().flatMap(curlExamples);
const fenced = docFiles().flatMap(fencedJsonExamples);
const inline = docFiles().flatMap(inlineJsonExamples);

describe("the JSON examples of README.md and docs/", () => {
  it("finds the request bodies the docs show (the policy, the registration and the first rotation of deploy.md)", () => {
    const routes = curls.map((c) => c.route.name);
    expect(routes).toEqual(expect.arrayContaining(["putPolicy", "putKey", "postRotation"]));
  });

  it.each(curls.map((c) => [`${c.where} ${c.method} ${c.path}`, c] as const))("curl body at %s is accepted by its handler's validation", async (_, c) => {
    const run = REQUESTS[c.route.name];
    expect(run, `no request validation known for ${c.route.name}`).toBeDefined();
    await expect(run!(JSON.parse(c.body), c.params)).resolves.toBeDefined();
  });

  it("marks every fenced json block as a request or response of a named route", () => {
    for (const f of fenced) expect(f.marker, `${f.where}: add <!-- example: <routeName> request|response --> above the block`).toBeDefined();
  });

  it.each(fenced.filter((f) => f.marker?.part === "request").map((f) => [f.where, f] as const))("fenced request body at %s is accepted by its handler's validation", async (_, f) => {
    const run = REQUESTS[f.marker!.route];
    expect(run, `no request validation known for ${f.marker!.route}`).toBeDefined();
    await expect(run!(JSON.parse(f.text), {})).resolves.toBeDefined();
  });

  it.each(fenced.filter((f) => f.marker?.part === "response").map((f) => [f.where, f] as const))("fenced response at %s has the shape the OpenAPI document gives its route", (_, f) => {
    const name = f.marker!.route;
    expect(isRouteName(name), `${name} is no route`).toBe(true);
    if (!isRouteName(name)) return;
    const route = ROUTES[name];
    const doc = openApiDocument() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const status = Number(Object.keys(doc.paths[openApiPaths(route.route)[0]!]![route.method.toLowerCase()]!.responses).filter((c) => c.startsWith("2")).sort()[0]);
    expect(responseMismatch(name, status, JSON.parse(f.text))).toBeUndefined();
  });

  it.each(inline.map((i) => [`${i.where} ${i.text}`, i] as const))("inline JSON %s is a body some request accepts", (_, i) => {
    const v: unknown = JSON.parse(i.text);
    expect(STRICT_BODIES.some((s) => s.safeParse(v).success && Object.keys(v as object).length > 0)).toBe(true);
  });

  it("the README's local principal header is one the API accepts, with the role it names", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const m = /x-ms-client-principal: \$\(printf '%s' '([^']+)' \| base64/.exec(readme);
    expect(m).not.toBeNull();
    const p = parsePrincipal(Buffer.from(m![1]!, "utf8").toString("base64"));
    expect(p.roles).toEqual([ROLES.auditor]);
  });
});
