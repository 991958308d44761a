// The OpenAPI 3.1 document of the HTTP API, written from lib/api/routes.ts and the zod schemas the
// handlers validate with, so the document cannot drift from what the functions accept. A test holds
// it to the functions that are actually registered.
import { z } from "zod";
import { ApproveFields, CompromiseBody, PostRotationBody } from "../api/rotations";
import { BreakLockBody } from "../api/locks";
import { RegisterKeyBody } from "../api/registration";
import { RollbackBody } from "../api/rollback";
import { ROUTE_LIST, type RouteSpec } from "../api/routes";
import { PLAN_REASONS } from "../domain/planner";
import { policySchema } from "../domain/policy";
import { KEY_KINDS, VERSION_STATES } from "../domain/keys";

type Json = Record<string, unknown>;

/** "policies/{policyId?}" → ["/api/policies", "/api/policies/{policyId}"]; "{*keyId}" → "{keyId}". */
export function openApiPaths(route: string): string[] {
  const clean = route.replace(/\{\*/g, "{").replace(/:[^}]+\}/g, "}");
  const optional = /\/\{([A-Za-z0-9_]+)\?\}$/.exec(clean);
  if (optional) return [`/api/${clean.slice(0, optional.index)}`, `/api/${clean.slice(0, optional.index)}/{${optional[1]}}`];
  return [`/api/${clean}`];
}

const schema = (s: z.ZodType, io: "input" | "output" = "input"): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Json;
  return rest;
};

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const str: Json = { type: "string" };
const instant: Json = { type: "string", format: "date-time" };

// Response bodies, written from the views the handlers return (lib/api/queries.ts, rotations.ts,
// lib/ports.ts). Objects stay open (more fields may come); the fields named required are always
// there. test/unit/http/openapiDocument.test.ts holds real answers to them.
const versionView: Json = {
  type: "object", required: ["version", "state", "createdAt"],
  properties: { version: str, state: { enum: [...VERSION_STATES] }, createdAt: instant, expiresAt: instant },
};
const keyView: Json = {
  type: "object",
  required: ["keyId", "kind", "tenant", "versions", "dueNow", "planReason"],
  properties: {
    keyId: str, kind: { enum: [...KEY_KINDS] }, tenant: str, policyId: str, primaryVersion: str,
    versions: { type: "array", items: versionView },
    lastRotatedAt: instant, lastRotationId: str,
    nextDue: { ...instant, description: "When the next (non-emergency) rotation may start" },
    dueNow: { type: "boolean" }, planReason: { enum: [...PLAN_REASONS] }, expiresAt: { ...instant, description: "The primary version's expiry" },
  },
};
const expiryWarning: Json = {
  type: "object", required: ["warningId", "version", "threshold", "at", "expiresAt", "due"],
  properties: {
    warningId: str, version: { ...str, description: "The version that expires" }, threshold: { ...str, description: "The policy's warnBefore duration, e.g. P7D" },
    at: { ...instant, description: "When the warning is due: expiresAt minus threshold" }, expiresAt: instant, due: { type: "boolean", description: "at has passed: warn now" },
  },
};
const dueRotation: Json = {
  type: "object", required: ["slot", "dueAt"],
  properties: { slot: str, dueAt: instant, rotationId: { ...str, description: "The scheduled rotation's id (the next one only; later ones get theirs when they come)" } },
};
const branchKeysDue: Json = {
  type: "object", required: ["every", "slot", "rotationId", "dueNow", "reason", "withinHorizon", "branchIds", "dueCount"],
  description: "A KEK whose policy has branchKeys.every: its next (or due) branch-key rotation, one rotation of the KEK for the primary branch keys that are (or by dueAt will be) that old",
  properties: {
    every: str, slot: { ...str, description: "When the oldest primary branch key turns `every` old (names the rotation)" }, rotationId: str,
    dueAt: instant, dueNow: { type: "boolean" }, reason: { enum: ["schedule", "frozen", "waitingForWindow"] }, frozenUntil: instant,
    withinHorizon: { type: "boolean" }, branchIds: { type: "array", items: str, description: "The branch keys it rotates, oldest first (at most 1000)" },
    dueCount: { type: "integer", description: "Branch keys due in all (more than branchIds: the rest go in the next rotation)" }, detail: str,
  },
};
const planItem: Json = {
  type: "object", required: ["keyId", "kind", "tenant", "reason", "dueNow", "withinHorizon", "warnings"],
  properties: {
    keyId: str, kind: { enum: [...KEY_KINDS] }, tenant: str, policyId: str, reason: { enum: [...PLAN_REASONS] },
    dueAt: instant, dueNow: { type: "boolean" }, slot: str, rotationId: str, withinHorizon: { type: "boolean" },
    frozenUntil: instant, expiresAt: instant, detail: str,
    due: { type: "array", items: dueRotation, description: "Every rotation due within the horizon, in order (the first is dueAt), assuming each runs when due" },
    dueTruncated: { type: "boolean", description: "More rotations fall within the horizon than are listed (500)" },
    warnings: { type: "array", items: expiryWarning },
    branchKeys: branchKeysDue,
  },
};
const plan: Json = {
  type: "object", required: ["generatedAt", "horizon", "items"],
  properties: { generatedAt: instant, horizon: str, items: { type: "array", items: planItem, description: "Keys with a rotation or an expiry warning within the horizon, and keys that will never rotate (no usable policy, suspended, a schedule or window that never comes); a key next due after the horizon is left out" } },
};
const policyView: Json = {
  type: "object", required: ["policy", "etag", "updatedAt"],
  properties: { policy: schema(policySchema, "output"), etag: str, updatedAt: instant },
};
const ledgerEntry: Json = {
  type: "object", required: ["keyId", "entryId", "seq", "at", "type", "actor", "prevHash", "hash"],
  properties: { keyId: str, seq: { type: "integer", minimum: 1 }, at: instant, type: str, entryId: str, actor: str, rotationId: str, details: { type: "object" }, prevHash: str, hash: str },
};
const verification: Json = {
  type: "object", required: ["ok", "chains", "entries", "seals", "verifiedAt"],
  properties: {
    ok: { type: "boolean" }, chains: { type: "integer" }, entries: { type: "integer" }, seals: { type: "integer" }, verifiedAt: instant,
    firstBreak: { type: "object" }, breaks: { type: "array", items: { type: "object" } },
    latestSeal: { type: "object", required: ["sealSeq", "at", "root", "kid"], properties: { sealSeq: { type: "integer" }, at: instant, root: str, kid: str } },
  },
};
// GET /api/ledger/verify within Azure's 230 s (lib/api/queries.ts verifyLedgerWithin): a call that
// reaches the end answers 200, else 202 with the page's findings and the continuation to ask next.
const verifyPage = (final: boolean): Json => ({
  type: "object", required: ["ok", "complete", "chains", "entries", "seals", "verifiedAt", ...(final ? [] : ["continuation"])],
  properties: {
    ...(verification.properties as Json),
    ok: { type: ["boolean", "null"], description: "complete: whether the whole ledger verifies. A page: false when it found a break, null when it found none (chains after it are not verified yet)" },
    complete: { type: "boolean", description: "true: this one call verified the whole ledger (asked without continuation); false: a page of a paged verify (add the pages up: keyrotor ledger verify does)" },
    from: { ...str, description: "The continuation this page started at" },
    ...(final ? {} : { continuation: { ...str, description: "Ask again with ?continuation=<this> for the next page" } }),
  },
});
const evidencePage: Json = {
  type: "object", required: ["complete", "continuation", "period", "progress"],
  description: "The export goes on: ask again with the same from, to and label and ?continuation=<continuation> until the answer is 200 (the pack)",
  properties: {
    complete: { const: false }, continuation: str, period: { type: "object", required: ["from", "to"], properties: { from: instant, to: instant, label: str } },
    progress: {
      type: "object", required: ["phase", "keysDone", "chainsVerified", "entriesVerified"],
      properties: { phase: { enum: ["keys", "verify"] }, keysDone: { type: "integer" }, chainsVerified: { type: "integer" }, entriesVerified: { type: "integer" } },
    },
  },
};
const rotationView: Json = {
  type: "object", required: ["rotationId", "runtimeStatus"],
  properties: {
    rotationId: str, keyId: str, trigger: str, phase: str, runtimeStatus: { ...str, description: "Durable runtime status, or pendingApproval / approvalExpired before an emergency starts" },
    outcome: str, progress: { type: "object" }, createdAt: instant, lastUpdatedAt: instant, versionBefore: str, versionAfter: str, heldBy: str,
    actor: str, reason: str, lock: { enum: ["pending", "held", "refused", "released"] }, counts: { type: "object", additionalProperties: { type: "number" } }, approval: { type: "object" },
    revocation: {
      type: "object", required: ["revoked", "because"], description: "Emergencies only: which version was revoked, or that none was and why",
      properties: { revoked: { type: "boolean" }, version: str, at: instant, dataLossAcceptedBy: str, because: str },
    },
  },
};
const health: Json = {
  type: "object", required: ["status", "at", "components"],
  properties: {
    status: { enum: ["ok", "degraded", "down"] }, at: instant,
    components: { type: "object", additionalProperties: { type: "object", required: ["status"], properties: { status: { enum: ["ok", "degraded", "down"] }, detail: str } } },
  },
};
const evidencePack: Json = {
  type: "object",
  required: ["format", "period", "generatedAt", "asOf", "summary", "compliance", "rotations", "emergencies", "failures", "keysWithoutPolicy", "keysNotInInventory", "controls", "verification"],
  properties: {
    format: { const: "keyrotor-evidence/1" }, period: { type: "object", required: ["from", "to"], properties: { from: instant, to: instant, label: str } },
    generatedAt: instant, asOf: instant, retention: str, summary: { type: "object" },
    compliance: { type: "array", items: { type: "object" } }, rotations: { type: "array", items: { type: "object" } }, emergencies: { type: "array", items: { type: "object" } },
    failures: { type: "array", items: { type: "object" } }, keysWithoutPolicy: { type: "array", items: str }, keysNotInInventory: { type: "array", items: str },
    controls: { type: "array", items: { type: "object" } }, verification: ref("LedgerVerification"),
    exceptions: { type: "array", items: { type: "object", required: ["keyId", "kind", "dueAt", "days"], properties: { keyId: str, policyId: str, kind: { enum: ["late", "missed"] }, dueAt: instant, days: { type: "integer" }, rotationId: str, completedAt: instant } } },
    unknownTags: { type: "array", items: { type: "object", required: ["tag", "policyIds"], properties: { tag: str, policyIds: { type: "array", items: str } } } },
    manifestSignature: { type: "object", required: ["kid", "alg", "value"], properties: { kid: str, alg: str, value: str }, description: "the seal key's signature of manifest.json (keyrotor evidence verify)" },
  },
};
const jwks: Json = { type: "object", required: ["keys"], properties: { keys: { type: "array", items: { type: "object", required: ["kty"], properties: { kty: str, kid: str, use: { const: "sig" } } } } } };


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
    keyTypeChecked: { type: "boolean", description: "kek and signing: whether the key type was checked against the kind (false only for a KEK whose type the vault could not tell, e.g. an oct Managed HSM key)" },
  },
};

const BODIES: Partial<Record<string, Json>> = {
  putKey: schema(RegisterKeyBody),
  postRotation: schema(PostRotationBody),
  postCompromise: schema(CompromiseBody),
  approveRotation: schema(ApproveFields),
  rollbackRotation: schema(RollbackBody),
  breakLock: schema(BreakLockBody),
  putPolicy: { ...schema(policySchema), description: "A rotation policy (see docs/policies.md); unknown fields are refused. policyId may be left out (the path names it)" },
};

const QUERIES: Partial<Record<string, { name: string; schema: Json; required?: boolean; description?: string }[]>> = {
  getPlan: [{ name: "horizon", schema: { type: "string", default: "P90D" }, description: "ISO-8601 duration, at most five years: the plan shows the keys due or warned about within it (and keys that never rotate), each with every rotation due in it" }],
  listRotations: [{ name: "keyId", schema: { type: "string" } }, { name: "limit", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } }],
  getPolicies: [{ name: "tenant", schema: { type: "string" } }],
  getLedger: [{ name: "fromSeq", schema: { type: "integer", minimum: 1 } }, { name: "limit", schema: { type: "integer", minimum: 1, maximum: 1000, default: 200 } }],
  getEvidence: [
    { name: "from", schema: { type: "string", format: "date-time" }, required: true },
    { name: "to", schema: { type: "string", format: "date-time" }, required: true },
    { name: "label", schema: { type: "string" } },
    { name: "continuation", schema: { type: "string", format: "uuid" }, description: "The continuation of the previous 202 answer (asked with the same from, to and label)" },
  ],
  verifyLedger: [{ name: "continuation", schema: { type: "string" }, description: "The continuation of the previous 202 answer: verify the next page" }],
};

const SUCCESS: Partial<Record<string, [string, Json]>> = {
  postRotation: ["202", accepted],
  approveRotation: ["202", accepted],
  rollbackRotation: ["202", rollbackAccepted],
  breakLock: ["200", lockBroken],
  postCompromise: ["202", accepted],
  putPolicy: ["200", ref("PolicyView")],
  putKey: ["200", registeredKey],
  getHealth: ["200", ref("Health")],
  getOpenApi: ["200", { type: "object", required: ["openapi", "info", "paths"], properties: { openapi: { const: "3.1.0" } }, description: "This document" }],
  getJwks: ["200", jwks],
  getKeys: ["200", { type: "object", required: ["keys"], properties: { keys: { type: "array", items: ref("KeyView") } } }],
  getPlan: ["200", ref("Plan")],
  getRotation: ["200", ref("RotationView")],
  listRotations: ["200", { type: "object", required: ["rotations"], properties: { rotations: { type: "array", items: { type: "object", required: ["rotationId"], properties: { rotationId: str, keyId: str } } } } }],
  getPolicies: ["200", { anyOf: [{ type: "object", required: ["policies"], properties: { policies: { type: "array", items: ref("PolicyView") } } }, ref("PolicyView")], description: "All policies, or the one named (with its ETag)" }],
  verifyLedger: ["200", verifyPage(true)],
  getLedger: ["200", { type: "object", required: ["keyId", "entries"], properties: { keyId: str, entries: { type: "array", items: ref("LedgerEntry") }, nextSeq: { type: "integer", description: "More entries: ask again with fromSeq" } } }],
  getEvidence: ["200", evidencePack],
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
  const success = SUCCESS[spec.name];
  if (!success) throw new Error(`[keyrotor] [openapi] no response body described for ${spec.name}`);
  const [code, body] = success;
  const err = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
  const responses: Json = {
    [code]: { description: "Success", content: { "application/json": { schema: body } } },
    "400": err("Invalid request (the field is named)"),
    // Any operation (lib/domain/errors.ts dispositionOf): a dependency that did not answer, and an
    // error that must stop the caller (an invariant broken, e.g. a tampered ledger chain: LedgerTampered).
    "500": err("Internal error or a broken invariant (error.code says which, e.g. LedgerTampered); alerted, not retried"),
    "503": err("A dependency (Table Storage, Key Vault, Service Bus) did not answer: retry later"),
  };
  if (spec.name === "putPolicy") {
    responses["201"] = { description: "Created", content: { "application/json": { schema: ref("PolicyView") } } };
    responses["409"] = err("The policy exists (create without If-Match)");
    responses["412"] = err("The policy changed since it was read");
  }
  if (spec.role !== "none") {
    responses["401"] = err("Missing, garbled or refused x-ms-client-principal (non-canonical base64, a reserved system: name, control or bidi characters; on App Service a principal without an object id: NameOnlyPrincipal)");
    responses["403"] = err(`The principal lacks ${spec.role}`);
  }
  if (spec.method !== "GET") {
    responses["413"] = err("Body larger than 64 KiB");
    responses["415"] = err("Content-Type is not application/json (required on every state-changing request, body or not)");
  }
  if (spec.name === "postRotation") responses["409"] = err("Another rotation holds the key (error.rotationId names it)");
  if (spec.name === "approveRotation") {
    responses["409"] = err("Approved by someone else, acceptDataLoss after the approval, the key is locked by another rotation, or the request predates requester ids (RequesterUnidentified) (nothing recorded)");
    responses["410"] = err("The approval window has closed");
  }
  if (spec.name === "getHealth") responses["503"] = { description: "A component is down", content: { "application/json": { schema: ref("Health") } } };
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
  if (spec.name === "verifyLedger") {
    responses["200"] = { description: "The whole ledger verified in this call (complete: true), or the last page of a paged verify", content: { "application/json": { schema: verifyPage(true) } } };
    responses["202"] = { description: "Azure cuts an HTTP response at 230 s: this page's findings, and the continuation to ask for the next page", content: { "application/json": { schema: verifyPage(false) } } };
  }
  if (spec.name === "getEvidence") {
    responses["202"] = { description: "Azure cuts an HTTP response at 230 s: the export goes on; ask again with its continuation", content: { "application/json": { schema: evidencePage } } };
    responses["404"] = err("The continuation names no export in progress (finished, or unused for 24 h): start again without it");
    responses["409"] = err("Another call continued the same export at the same time: continue from that call's answer");
  }
  if (/\{/.test(path) || spec.name === "postRotation" || spec.name === "postCompromise") responses["404"] = err("Not found");
  return {
    operationId: path === openApiPaths(spec.route)[0] ? spec.name : `${spec.name}ById`,
    summary: spec.summary,
    ...(spec.role !== "none" ? { security: [{ bearerAuth: [] }, { easyAuthPrincipal: [] }], "x-keyrotor-role": spec.role } : { security: [] }),
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
    servers: [
      { url: "https://{app}.azurewebsites.net", description: "The deployed function app (azd env get-value KEYROTOR_API_URL)", variables: { app: { default: "func-kr-abc123", description: "The function app's name (func-kr-<resourceToken>)" } } },
      { url: "http://127.0.0.1:7071", description: "The local host (npm start)" },
    ],
    paths,
    components: {
      schemas: {
        Error: errorBody, KeyView: keyView, Plan: plan, PolicyView: policyView, LedgerEntry: ledgerEntry,
        LedgerVerification: verification, RotationView: rotationView, Health: health,
      },
      securitySchemes: {
        bearerAuth: {
          type: "http", scheme: "bearer", bearerFormat: "JWT",
          description: "An Entra ID access token for the API's app registration (keyrotor login, or az account get-access-token); App Service Authentication validates it and passes the principal and its app roles on",
        },
        easyAuthPrincipal: { type: "apiKey", in: "header", name: "x-ms-client-principal", description: "Base64 JSON principal as App Service Authentication (Easy Auth) sets it; sent directly only to the local host (Azure strips it from client requests)" },
      },
    },
  };
}
