// The OpenAPI 3.1 document of the HTTP API, written from lib/api/routes.ts and the zod schemas the
// handlers validate with, so the document cannot drift from what the functions accept. A test holds
// it to the functions that are actually registered.
import { z } from "zod";
import { ApproveFields, CompromiseBody, RotationRequestBody } from "../api/rotations";
import { BreakLockBody } from "../api/locks";
import { RegisterKeyBody } from "../api/registration";
import { RollbackBody } from "../api/rollback";
import { ROUTE_LIST, type RouteSpec } from "../api/routes";

type Json = Record<string, unknown>;

/** "policies/{policyId?}" → ["/api/policies", "/api/policies/{policyId}"]; "{*keyId}" → "{keyId}". */
export function openApiPaths(route: string): string[] {
  const clean = route.replace(/\{\*/g, "{").replace(/:[^}]+\}/g, "}");
  const optional = /\/\{([A-Za-z0-9_]+)\?\}$/.exec(clean);
  if (optional) return [`/api/${clean.slice(0, optional.index)}`, `/api/${clean.slice(0, optional.index)}/{${optional[1]}}`];
  return [`/api/${clean}`];
}

const schema = (s: z.ZodType): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as Json;
  return rest;
};

const errorBody: Json = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        field: { type: "string", description: "The offending field, as a dotted path" },
        rotationId: { type: "string", description: "The running rotation (409 on a held key)" },
      },
    },
  },
};

const accepted: Json = {
  type: "object",
  required: ["rotationId", "status", "statusUrl"],
  properties: {
    rotationId: { type: "string" },
    status: { enum: ["running", "pendingApproval"] },
    statusUrl: { type: "string" },
    approveBy: { type: "string", format: "date-time" },
    approvedBy: { type: "string" },
    rollbackOf: { type: "string", description: "Approving a rollback request: the emergency it rolls back" },
  },
};

const anyObject: Json = { type: "object" };

const lockBroken: Json = {
  type: "object",
  required: ["keyId", "previousOwner", "previousSince", "previousLeaseUntil", "because", "terminated", "confirmed"],
  properties: {
    keyId: { type: "string" },
    previousOwner: { type: "string", description: "The rotationId that held the lock" },
    previousSince: { type: "string", format: "date-time" },
    previousLeaseUntil: { type: "string", format: "date-time" },
    because: { enum: ["leaseExpired", "ownerTerminal", "ownerGone", "ownerTerminated"] },
    terminated: { type: "array", items: { type: "string" }, description: "Orchestration instances this request terminated (the holder, then the rewrap legs it had running)" },
    confirmed: { type: "boolean", description: "false (with 202): the entity has not confirmed yet" },
  },
};

const rollbackAccepted: Json = {
  type: "object",
  required: ["rotationId", "rollbackOf", "status", "statusUrl", "versionBefore", "versionAfter"],
  properties: {
    rotationId: { type: "string", description: "The rollback's own rotationId" },
    rollbackOf: { type: "string" },
    status: { enum: ["running", "pendingApproval"], description: "pendingApproval: rolling back an emergency waits for a second person (POST rotations/approve/{rotationId})" },
    statusUrl: { type: "string" },
    approveBy: { type: "string", format: "date-time" },
    versionBefore: { type: "string", description: "The primary the rotation made (stays enabled, secondary)" },
    versionAfter: { type: "string", description: "The version re-promoted" },
  },
};

const registeredKey: Json = {
  type: "object",
  required: ["key"],
  properties: {
    key: { type: "object", description: "The inventory entry: keyId, kind, tenant, policyId, primaryVersion, versions (state, createdAt, expiresAt)" },
    keyTypeChecked: { type: "boolean", description: "kek only: false when the vault could not tell whether the key is RSA, so that check was skipped" },
  },
};

const BODIES: Partial<Record<string, Json>> = {
  putKey: schema(RegisterKeyBody),
  postRotation: schema(RotationRequestBody),
  postCompromise: schema(CompromiseBody),
  approveRotation: schema(ApproveFields),
  rollbackRotation: schema(RollbackBody),
  breakLock: schema(BreakLockBody),
  putPolicy: { type: "object", description: "A rotation policy (see docs/policies.md); unknown fields are refused" },
};

const QUERIES: Partial<Record<string, { name: string; schema: Json; required?: boolean; description?: string }[]>> = {
  getPlan: [{ name: "horizon", schema: { type: "string", default: "P90D" }, description: "ISO-8601 duration" }],
  listRotations: [{ name: "keyId", schema: { type: "string" } }, { name: "limit", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } }],
  getPolicies: [{ name: "tenant", schema: { type: "string" } }],
  getLedger: [{ name: "fromSeq", schema: { type: "integer", minimum: 1 } }, { name: "limit", schema: { type: "integer", minimum: 1, maximum: 1000, default: 200 } }],
  getEvidence: [
    { name: "from", schema: { type: "string", format: "date-time" }, required: true },
    { name: "to", schema: { type: "string", format: "date-time" }, required: true },
    { name: "label", schema: { type: "string" } },
  ],
};

const SUCCESS: Partial<Record<string, [string, Json]>> = {
  postRotation: ["202", accepted],
  approveRotation: ["202", accepted],
  rollbackRotation: ["202", rollbackAccepted],
  breakLock: ["200", lockBroken],
  postCompromise: ["202", accepted],
  putPolicy: ["200", anyObject],
  putKey: ["200", registeredKey],
};

function operation(spec: RouteSpec, path: string): Json {
  // A catch-all takes the rest of the path, "/" included (lib/api/routes.ts says why ids travel so).
  const catchAll = new Set([...spec.route.matchAll(/\{\*([A-Za-z0-9_]+)/g)].map((m) => m[1]));
  const params = [...path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => ({
    name: m[1], in: "path", required: true, schema: { type: "string" },
    ...(catchAll.has(m[1]) ? { description: "The rest of the path: may hold \"/\", sent plain or as %2F (both name the same id)" } : {}),
  }));
  const query = (QUERIES[spec.name] ?? []).map((q) => ({ name: q.name, in: "query", required: q.required ?? false, schema: q.schema, ...(q.description ? { description: q.description } : {}) }));
  const headers = spec.name === "putPolicy" ? [{ name: "If-Match", in: "header", required: false, schema: { type: "string" }, description: "One ETag as read before (W/\"…\"); absent = create only, * = create or replace; anything else is 400" }] : [];
  const [code, body] = SUCCESS[spec.name] ?? ["200", anyObject];
  const err = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
  const responses: Json = {
    [code]: { description: "Success", content: { "application/json": { schema: body } } },
    "400": err("Invalid request (the field is named)"),
  };
  if (spec.name === "putPolicy") {
    responses["201"] = { description: "Created", content: { "application/json": { schema: anyObject } } };
    responses["409"] = err("The policy exists (create without If-Match)");
    responses["412"] = err("The policy changed since it was read");
  }
  if (spec.role !== "none") {
    responses["401"] = err("Missing, garbled or refused x-ms-client-principal (non-canonical base64, a reserved system: name, control or bidi characters)");
    responses["403"] = err(`The principal lacks ${spec.role}`);
  }
  if (spec.method !== "GET") {
    responses["413"] = err("Body larger than 64 KiB");
    responses["415"] = err("Content-Type is not application/json (required on every state-changing request, body or not)");
  }
  if (spec.name === "postRotation") responses["409"] = err("Another rotation holds the key (error.rotationId names it)");
  if (spec.name === "approveRotation") {
    responses["409"] = err("Approved by someone else, acceptDataLoss after the approval, or the key is locked by another rotation (nothing recorded)");
    responses["410"] = err("The approval window has closed");
  }
  if (spec.name === "putKey") {
    responses["201"] = { description: "Registered", content: { "application/json": { schema: registeredKey } } };
    responses["409"] = err("The key is registered already with another policy or tenant (error.field names which)");
  }
  if (spec.name === "rollbackRotation") {
    responses["409"] = err("A later rotation superseded it, the version it replaced is revoked or retired, or the key is locked (error.rotationId names the holder)");
    responses["410"] = err("The rollback window has closed");
  }
  if (spec.name === "breakLock") {
    responses["202"] = { description: "Recorded and signalled; the entity has not confirmed yet", content: { "application/json": { schema: lockBroken } } };
    responses["409"] = err("The holder is alive (lease not expired, orchestration running); error.rotationId names it");
  }
  if (/\{/.test(path) || spec.name === "postRotation" || spec.name === "postCompromise") responses["404"] = err("Not found");
  return {
    operationId: path === openApiPaths(spec.route)[0] ? spec.name : `${spec.name}ById`,
    summary: spec.summary,
    ...(spec.role !== "none" ? { security: [{ easyAuthPrincipal: [] }], "x-keyrotor-role": spec.role } : { security: [] }),
    parameters: [...params, ...query, ...headers],
    ...(BODIES[spec.name] ? { requestBody: { required: spec.name !== "approveRotation", content: { "application/json": { schema: BODIES[spec.name] } } } } : {}),
    responses,
  };
}

export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const spec of ROUTE_LIST) {
    for (const path of openApiPaths(spec.route)) {
      paths[path] = { ...(paths[path] ?? {}), [spec.method.toLowerCase()]: operation(spec, path) };
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "keyrotor",
      version: "0.1.0",
      description: "Automated, auditable key rotation. Reads accept any KeyRotation.* role; changes need the exact role. Emergency rotations need a second person.",
    },
    paths,
    components: {
      schemas: { Error: errorBody },
      securitySchemes: {
        easyAuthPrincipal: { type: "apiKey", in: "header", name: "x-ms-client-principal", description: "Base64 JSON principal set by App Service Authentication (Easy Auth)" },
      },
    },
  };
}
