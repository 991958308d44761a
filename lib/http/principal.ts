// Identity from App Service Authentication (Easy Auth): the `x-ms-client-principal` header, base64
// of {auth_typ, claims: [{typ, val}], name_typ, role_typ}. In Azure it is trusted only because Easy
// Auth strips any client-sent copy and sets it itself; the local host documents how to send one.
import { InvalidRequestError } from "../domain/errors";
import { hasUnsafeText } from "../domain/unsafeText";

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
const MAX_NAME = 256;

// Claim types as App Service authentication really sends them. `name_typ`/`role_typ` are claim-type
// URIs (the .NET ClaimsIdentity defaults), yet Entra ID app roles arrive as claims typed "roles"
// (microsoft-identity-web PR #2166: "the claims type will always be roles"), and v1 tokens carry the
// object id under its URI while v2 tokens say `oid`. Fixtures: test/fixtures/easyauth/*.json.
const CLAIM = {
  oid: ["http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"],
  /** The provider's stable subject, for providers without an object id (Google, GitHub...). */
  subject: ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "sub"],
  roles: ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"],
  /** Display name, best first: what a person would recognise. */
  name: ["name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "email"],
  /** App-only (client credentials, managed identity) tokens have no name: the calling app's id. */
  app: ["azp", "appid"],
} as const;

/** Actors keyrotor records for itself ("system:timer", "system:eventgrid", "system:events"): a caller
 * may never carry one, or a person could pose as keyrotor's own timer in the ledger. */
const RESERVED_PREFIX = "system:";


interface EasyAuthPayload {
  claims?: { typ?: unknown; val?: unknown }[];
  name_typ?: unknown;
  role_typ?: unknown;
  userId?: unknown;
  userDetails?: unknown;
  userRoles?: unknown;
}

function unauthorized(message: string): InvalidRequestError {
  return new InvalidRequestError("Unauthenticated", message, { status: 401 });
}

/** Strict base64 (RFC 4648 section 3.5: canonical, padded, nothing trailing), then strict UTF-8.
 * Node's decoder skips junk and stops at the first "=", so "<valid>!!junk" would otherwise pass. */
function decodeStrict(value: string): string {
  if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw unauthorized(`${PRINCIPAL_HEADER} is not canonical base64`);
  const bytes = Buffer.from(value, "base64");
  if (bytes.toString("base64") !== value) throw unauthorized(`${PRINCIPAL_HEADER} is not canonical base64`);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw unauthorized(`${PRINCIPAL_HEADER} is not UTF-8`);
  }
}

/** Refuses an identity keyrotor could not store or show safely, naming the claim and the reason. */
function checkIdentity(what: "id" | "name", value: string): void {
  if (value.length === 0 || value.length > MAX_NAME) throw unauthorized(`${PRINCIPAL_HEADER}: the principal's ${what} must be 1-${MAX_NAME} characters`);
  if (hasUnsafeText(value)) throw unauthorized(`${PRINCIPAL_HEADER}: the principal's ${what} holds control or bidirectional-override characters`);
  if (value.normalize("NFKC").toLowerCase().startsWith(RESERVED_PREFIX)) {
    throw unauthorized(`${PRINCIPAL_HEADER}: "${RESERVED_PREFIX}" names are reserved for keyrotor's own actors`);
  }
}

/** Object ids are GUIDs, which Entra ID may spell in either case: one person, one id. */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a principal with only a name (no object id, no subject) is accepted: only off App Service.
 * Azure sets WEBSITE_SITE_NAME and WEBSITE_INSTANCE_ID on every plan (the Functions host itself
 * tells App Service apart by WEBSITE_INSTANCE_ID); there Easy Auth always sends an object id (Entra
 * ID users, guests and app-only tokens alike: test/fixtures/easyauth), so a name-only principal
 * means a header Easy Auth did not make. A name can be respelt ("alice ", full-width, zero-width
 * joiners, Cyrillic look-alikes) and so cannot carry the two-person rule. Locally (npm start, the
 * CLI, the tests: encodePrincipal) the host trusts its caller anyway, who can send any name.
 */
export function nameOnlyPrincipalsAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return !env.WEBSITE_SITE_NAME && !env.WEBSITE_INSTANCE_ID;
}

/** Parses the principal header; a missing, garbled or unsafe header is a 401, and so is a
 * name-only principal where those are not allowed (nameOnlyPrincipalsAllowed). */
export function parsePrincipal(headerValue: string | null | undefined, opts: { allowNameOnly?: boolean } = {}): Principal {
  if (!headerValue) throw unauthorized(`missing ${PRINCIPAL_HEADER} header (App Service Authentication principal)`);
  if (headerValue.length > MAX_HEADER) throw unauthorized(`${PRINCIPAL_HEADER} header is too large`);
  const decoded = decodeStrict(headerValue);
  let payload: EasyAuthPayload;
  try {
    payload = JSON.parse(decoded) as EasyAuthPayload;
  } catch {
    throw unauthorized(`${PRINCIPAL_HEADER} is not base64-encoded JSON`);
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw unauthorized(`${PRINCIPAL_HEADER} is not a JSON object`);
  const claims = Array.isArray(payload.claims) ? payload.claims : [];
  const nameTyp = typeof payload.name_typ === "string" ? payload.name_typ : "name";
  const roleTyp = typeof payload.role_typ === "string" ? payload.role_typ : "roles";
  const valuesOf = (types: readonly string[]) =>
    claims.filter((c) => c && typeof c.typ === "string" && types.includes(c.typ) && typeof c.val === "string" && c.val !== "").map((c) => c.val as string);
  const first = (types: readonly string[]) => types.map((t) => valuesOf([t])[0]).find((v) => v !== undefined);
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

  const objectId = first(CLAIM.oid) ?? first(CLAIM.subject) ?? str(payload.userId);
  // Static Web Apps / the client-side shape (userDetails, userRoles) is accepted too.
  const name = first([nameTyp, ...CLAIM.name]) ?? str(payload.userDetails) ?? first(CLAIM.app);
  const rawRoles = [...valuesOf([roleTyp, ...CLAIM.roles]), ...(Array.isArray(payload.userRoles) ? payload.userRoles.filter((r): r is string => typeof r === "string") : [])];
  if (objectId === undefined && name === undefined) throw unauthorized(`${PRINCIPAL_HEADER} carries neither an object id nor a name claim`);
  if (objectId === undefined && !(opts.allowNameOnly ?? nameOnlyPrincipalsAllowed())) {
    throw new InvalidRequestError("NameOnlyPrincipal", `${PRINCIPAL_HEADER} carries no object id or subject claim: on App Service keyrotor identifies people by their object id, never by a name`, { status: 401 });
  }
  // Rules compare the object id (or another provider's subject): a display name can change or
  // repeat (guests, renamed people). Only local-development headers (encodePrincipal, the README's
  // curl line) come without either; there the name is the id, which is safe only because the local
  // host trusts its caller anyway.
  const id = objectId !== undefined && GUID.test(objectId) ? objectId.toLowerCase() : (objectId ?? name!);
  const display = name ?? objectId!;
  checkIdentity("id", id);
  checkIdentity("name", display);
  const roles = [...new Set(rawRoles.filter((r): r is Role => ALL_ROLES.includes(r)))];
  return { id, name: display, roles };
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
