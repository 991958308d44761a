// Every HTTP route of the API in one table: the functions register from it, the OpenAPI document
// is written from it, and the authorization matrix test walks it. A route added here without a
// function (or the other way round) fails test/unit/api/openapi.test.ts.
//
// Ids that hold a "/" (keyId `kek:<vault>/<key>`, rotationId `<keyId>@manual:<time>`) travel only
// in a catch-all `{*param}`, which Azure Functions allows as the LAST segment of a template. Azure's
// front end decodes "%2F" to "/" before routing (azure-functions-host #9290, #5619, #3998), so an
// encoded id in a one-segment parameter such as `rotations/{rotationId}/approve` splits into
// several segments and answers 404 in Azure, whatever the client encodes. Hence the action comes
// before the id: `POST rotations/approve/{*rotationId}`, `POST rotations/rollback/{*rotationId}`,
// `POST locks/break/{*keyId}`, `GET rotations/{*rotationId}`. The URLs stay readable
// (/api/rotations/approve/kek:demo-vault/tenant-kek@emergency:...), the ids themselves are
// unchanged (every id in the ledger and in earlier answers still reads), and a client may send the
// id's "/" plain or as %2F: both reach the handler as the same id. Literal segments outrank a
// catch-all (`ledger/verify` over `ledger/{*keyId}`, `rotations` over `rotations/{*rotationId}`),
// and no keyId or rotationId equals "approve", "rollback" or "break" (they start with `<kind>:`).
// test/unit/api/routeIds.test.ts refuses a parameter that can hold a "/" outside a catch-all.
import { ROLES, type Role } from "../http/principal";

export interface RouteSpec {
  /** Function name = file name in functions/. */
  name: string;
  method: "GET" | "POST" | "PUT";
  /** Functions route template (under /api). */
  route: string;
  role: Role | "none";
  summary: string;
  /** Starts or looks at orchestrations (the durable client input binding). */
  durableClient?: boolean;
}

export const ROUTES = {
  getHealth: { name: "getHealth", method: "GET", route: "health", role: "none", summary: "Components' status, including notification delivery" },
  getOpenApi: { name: "getOpenApi", method: "GET", route: "openapi.json", role: "none", summary: "This API's OpenAPI 3.1 document" },
  getJwks: { name: "getJwks", method: "GET", route: "jwks/{vault}/{key}", role: "none", summary: "JWKS of a managed signing key: the primary and the versions that still verify" },
  getKeys: { name: "getKeys", method: "GET", route: "keys", role: ROLES.auditor, summary: "Inventory: policy, primary version, next due, expiry" },
  putKey: { name: "putKey", method: "PUT", route: "keys/{*keyId}", role: ROLES.admin, summary: "Register a key or secret of a managed vault in the inventory with its policy (versions read from the vault); the same registration again answers 200" },
  getPlan: { name: "getPlan", method: "GET", route: "plan", role: ROLES.auditor, summary: "Upcoming rotations and expiry warnings (dry run)" },
  postRotation: { name: "postRotation", method: "POST", route: "rotations", role: ROLES.operator, summary: "Start a normal rotation, or request an emergency rotation (needs a second person's approval)", durableClient: true },
  approveRotation: { name: "approveRotation", method: "POST", route: "rotations/approve/{*rotationId}", role: ROLES.approver, summary: "Approve an emergency rotation (a different person than the requester, within the approval window)", durableClient: true },
  rollbackRotation: { name: "rollbackRotation", method: "POST", route: "rotations/rollback/{*rotationId}", role: ROLES.operator, summary: "Roll a rotation back within its policy's rollbackWindow: re-promote the version it replaced (the newer one stays enabled)", durableClient: true },
  getRotation: { name: "getRotation", method: "GET", route: "rotations/{*rotationId}", role: ROLES.auditor, summary: "A rotation's phase, progress, timestamps and error", durableClient: true },
  listRotations: { name: "listRotations", method: "GET", route: "rotations", role: ROLES.auditor, summary: "Rotation history from the ledger, newest first" },
  getPolicies: { name: "getPolicies", method: "GET", route: "policies/{policyId?}", role: ROLES.auditor, summary: "Policies as data (all, or one by id)" },
  putPolicy: { name: "putPolicy", method: "PUT", route: "policies/{policyId}", role: ROLES.admin, summary: "Create or replace a policy (If-Match for optimistic concurrency)" },
  verifyLedger: { name: "verifyLedger", method: "GET", route: "ledger/verify", role: ROLES.auditor, summary: "Verify every hash chain and seal of the ledger" },
  getLedger: { name: "getLedger", method: "GET", route: "ledger/{*keyId}", role: ROLES.auditor, summary: "Ledger entries of one key" },
  getEvidence: { name: "getEvidence", method: "GET", route: "evidence", role: ROLES.auditor, summary: "Compliance evidence for a period (from the ledger, with its verification)" },
  breakLock: { name: "breakLock", method: "POST", route: "locks/break/{*keyId}", role: ROLES.admin, summary: "Break a key's lock by hand, audited as LockBroken: when its orchestration is terminal or gone (or its lease expired and it no longer runs); a running holder only with terminateOwner, which terminates it and its rewrap legs first (else 409 names it)", durableClient: true },
  postCompromise: { name: "postCompromise", method: "POST", route: "events/compromise", role: ROLES.operator, summary: "A compromise signal: opens an emergency request that still needs approval" },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;
export const ROUTE_LIST: readonly RouteSpec[] = Object.values(ROUTES);

/** One path segment, percent-encoded except for ":" and "@", which RFC 3986 allows in a segment
 * (so `kek:demo-vault` stays readable). */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ":").replace(/%40/g, "@");
}

/**
 * The URL path (under /api) of a route with its parameters filled in: what statusUrl, Location
 * and the CLI send. A catch-all's value keeps its "/" as segment separators (each part encoded);
 * any other parameter is one encoded segment. An optional parameter left out is dropped.
 * Throws when a parameter is missing, or when a "/" would land in a one-segment parameter (the
 * route table test holds that no id that can hold one is routed there).
 */
export function apiPath(spec: Pick<RouteSpec, "route">, params: Readonly<Record<string, string | undefined>> = {}): string {
  const parts: string[] = [];
  for (const seg of spec.route.split("/")) {
    const m = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(seg);
    if (!m) {
      parts.push(seg);
      continue;
    }
    const [, star, name = "", optional] = m;
    const value = params[name];
    if (value === undefined || value === "") {
      if (optional) continue;
      throw new Error(`[keyrotor] [routes] ${spec.route} needs a value for ${name}`);
    }
    if (star) parts.push(value.split("/").map(encodeSegment).join("/"));
    else if (value.includes("/")) throw new Error(`[keyrotor] [routes] ${name} of ${spec.route} is one path segment and cannot hold a "/"`);
    else parts.push(encodeSegment(value));
  }
  return `/api/${parts.join("/")}`;
}

/**
 * Route parameters as the handlers read them. Behind Azure's front end (which decodes "%2F" before
 * routing) a catch-all receives an id's "/" as a "/"; Kestrel alone (Core Tools' `func start`)
 * decodes every escape but "%2F" (dotnet/aspnetcore #30655), so there the same id arrives with
 * "%2F" in it, and a double-escaped "%252F" arrives so in Azure. All three name one id: "%2F" is
 * read as "/" here. No id keyrotor makes holds a "%" (keyIds refuse one; rotationIds are built
 * from keyIds, times and versions), so nothing else can be meant.
 */
export function routeParams(params: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) out[name] = value.replace(/%2F/gi, "/");
  return out;
}

/** Where a caller reads a rotation's status (the answer of every request that starts one). */
export function statusUrl(rotationId: string): string {
  return apiPath(ROUTES.getRotation, { rotationId });
}
