// Identity from App Service Authentication (Easy Auth): the `x-ms-client-principal` header, base64
// of {auth_typ, claims: [{typ, val}], name_typ, role_typ}. In Azure it is trusted only because Easy
// Auth strips any client-sent copy and sets it itself; the local host documents how to send one.
import { InvalidRequestError } from "../domain/errors";

export const ROLES = {
  operator: "KeyRotation.Operator",
  approver: "KeyRotation.Approver",
  auditor: "KeyRotation.Auditor",
  admin: "KeyRotation.Admin",
} as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];
const ALL_ROLES: readonly string[] = Object.values(ROLES);

export interface Principal {
  /** Stable, unique identity that rules compare (two-person rule, self-approval): the principal's
   * object id where Easy Auth gives one; locally, the name. Never compare `name`. */
  id: string;
  /** Display name for people to read; never compared. */
  name: string;
  roles: Role[];
}

const PRINCIPAL_HEADER = "x-ms-client-principal";
const MAX_HEADER = 16 * 1024;

interface EasyAuthPayload {
  claims?: { typ?: unknown; val?: unknown }[];
  name_typ?: unknown;
  role_typ?: unknown;
  userDetails?: unknown;
  userRoles?: unknown;
}

function unauthorized(message: string): InvalidRequestError {
  return new InvalidRequestError("Unauthenticated", message, { status: 401 });
}

/** Parses the principal header; a missing or garbled header is a 401. */
export function parsePrincipal(headerValue: string | null | undefined): Principal {
  if (!headerValue) throw unauthorized(`missing ${PRINCIPAL_HEADER} header (App Service Authentication principal)`);
  if (headerValue.length > MAX_HEADER) throw unauthorized(`${PRINCIPAL_HEADER} header is too large`);
  let payload: EasyAuthPayload;
  try {
    const decoded = Buffer.from(headerValue, "base64").toString("utf8");
    payload = JSON.parse(decoded) as EasyAuthPayload;
  } catch {
    throw unauthorized(`${PRINCIPAL_HEADER} is not base64-encoded JSON`);
  }
  if (typeof payload !== "object" || payload === null) throw unauthorized(`${PRINCIPAL_HEADER} is not a JSON object`);
  const claims = Array.isArray(payload.claims) ? payload.claims : [];
  const nameTyp = typeof payload.name_typ === "string" ? payload.name_typ : "name";
  const roleTyp = typeof payload.role_typ === "string" ? payload.role_typ : "roles";
  const valuesOf = (typ: string) =>
    claims.filter((c) => c && c.typ === typ && typeof c.val === "string").map((c) => c.val as string);
  // Static Web Apps / the client-side shape (userDetails, userRoles) is accepted too.
  const name = valuesOf(nameTyp)[0] ?? (typeof payload.userDetails === "string" ? payload.userDetails : undefined);
  const rawRoles = [...valuesOf(roleTyp), ...(Array.isArray(payload.userRoles) ? payload.userRoles.filter((r): r is string => typeof r === "string") : [])];
  if (!name || name.length > 256) throw unauthorized(`${PRINCIPAL_HEADER} carries no usable name claim`);
  const roles = [...new Set(rawRoles.filter((r): r is Role => ALL_ROLES.includes(r)))];
  return { id: name, name, roles };
}

/** Read-only routes accept any keyrotor role (an operator must see what they run); changes need the
 * exact role. Admin does not imply Operator or Approver: separation of duties is the point. */
export function hasRole(p: Principal, required: Role): boolean {
  if (required === ROLES.auditor) return p.roles.length > 0;
  return p.roles.includes(required);
}

export function requireRole(p: Principal, required: Role): void {
  if (!hasRole(p, required)) {
    throw new InvalidRequestError("Forbidden", `${p.name} lacks the ${required} role`, { status: 403 });
  }
}

/** Builds a header value (local use, tests, the CLI). */
export function encodePrincipal(name: string, roles: readonly string[]): string {
  const claims = [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))];
  return Buffer.from(JSON.stringify({ auth_typ: "aad", claims, name_typ: "name", role_typ: "roles" })).toString("base64");
}
