// Every HTTP route of the API in one table: the functions register from it, the OpenAPI document
// is written from it, and the authorization matrix test walks it. A route added here without a
// function (or the other way round) fails test/unit/api/openapi.test.ts.
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
  postRotation: { name: "postRotation", method: "POST", route: "rotations", role: ROLES.operator, summary: "Start a manual rotation, or request an emergency rotation (needs a second person's approval)", durableClient: true },
  approveRotation: { name: "approveRotation", method: "POST", route: "rotations/{rotationId}/approve", role: ROLES.approver, summary: "Approve an emergency rotation (a different person than the requester, within the approval window)", durableClient: true },
  rollbackRotation: { name: "rollbackRotation", method: "POST", route: "rotations/{rotationId}/rollback", role: ROLES.operator, summary: "Roll a rotation back within its policy's rollbackWindow: re-promote the version it replaced (the newer one stays enabled)", durableClient: true },
  getRotation: { name: "getRotation", method: "GET", route: "rotations/{rotationId}", role: ROLES.auditor, summary: "A rotation's phase, progress, timestamps and error", durableClient: true },
  listRotations: { name: "listRotations", method: "GET", route: "rotations", role: ROLES.auditor, summary: "Rotation history from the ledger, newest first" },
  getPolicies: { name: "getPolicies", method: "GET", route: "policies/{policyId?}", role: ROLES.auditor, summary: "Policies as data (all, or one by id)" },
  putPolicy: { name: "putPolicy", method: "PUT", route: "policies/{policyId}", role: ROLES.admin, summary: "Create or replace a policy (If-Match for optimistic concurrency)" },
  verifyLedger: { name: "verifyLedger", method: "GET", route: "ledger/verify", role: ROLES.auditor, summary: "Verify every hash chain and seal of the ledger" },
  getLedger: { name: "getLedger", method: "GET", route: "ledger/{*keyId}", role: ROLES.auditor, summary: "Ledger entries of one key" },
  getEvidence: { name: "getEvidence", method: "GET", route: "evidence", role: ROLES.auditor, summary: "Compliance evidence for a period (from the ledger, with its verification)" },
  breakLock: { name: "breakLock", method: "POST", route: "locks/{keyId}/break", role: ROLES.admin, summary: "Break a key's lock by hand, audited as LockBroken: only when its lease expired or its orchestration is terminal (409 names a live holder)", durableClient: true },
  postCompromise: { name: "postCompromise", method: "POST", route: "events/compromise", role: ROLES.operator, summary: "A compromise signal: opens an emergency request that still needs approval" },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;
export const ROUTE_LIST: readonly RouteSpec[] = Object.values(ROUTES);
