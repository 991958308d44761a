// The CLI's view of the keyrotor HTTP API. Every failure becomes a CliError carrying the exit code
// of the contract: 1 when the service said "no", 2 for bad usage or an unreachable service.
import { encodePrincipal, ROLES } from "../http/principal";

export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2, readonly body?: unknown) {
    super(message);
  }
}

export interface Identity {
  name: string;
  roles: string[];
}

const KNOWN_ROLES: readonly string[] = Object.values(ROLES);

/** A role as written after `--as name:` (`Operator` or `KeyRotation.Operator`, any case), in the
 * app's spelling; a role the app does not know is bad usage here, not a 403 later. */
function knownRole(written: string, spec: string): string {
  const full = (written.includes(".") ? written : `KeyRotation.${written}`).toLowerCase();
  const role = KNOWN_ROLES.find((r) => r.toLowerCase() === full);
  if (!role) {
    const names = KNOWN_ROLES.map((r) => r.replace(/^KeyRotation\./, "")).join(", ");
    throw new CliError(`--as: unknown role "${written}" in "${spec}" (roles: ${names})`, 2);
  }
  return role;
}

/** `--as alice:KeyRotation.Operator,KeyRotation.Auditor` (or `alice:Operator,Auditor`), or
 * KEYROTOR_AS in the environment. */
export function parseIdentity(spec: string | undefined): Identity | undefined {
  if (!spec) return undefined;
  const [name, roles = ""] = spec.split(":", 2);
  if (!name) throw new CliError(`--as must look like name:Role1,Role2 (got "${spec}")`, 2);
  return {
    name,
    roles: roles
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean)
      .map((r) => knownRole(r, spec)),
  };
}

/** JSON when it is JSON, else the text as it came (a proxy's HTML error page, say). */
function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export class ApiClient {
  /** `token`: a bearer token for a deployed app behind App Service Authentication (it sets the
   * principal itself), given as is or acquired before each request (lib/cli/token.ts);
   * `identity`: the principal header the local host reads. */
  constructor(private readonly baseUrl: string, private readonly identity: Identity | undefined, private readonly token?: string | (() => Promise<string>)) {}

  async request<T>(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.identity) headers["x-ms-client-principal"] = encodePrincipal(this.identity.name, this.identity.roles);
    const bearer = typeof this.token === "function" ? await this.token() : this.token;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new CliError(`cannot reach keyrotor at ${this.baseUrl}: ${(err as Error).message}`, 2);
    }
    const text = await res.text();
    const parsed = parseBody(text);
    if (res.status >= 400) {
      const e = (parsed as { error?: { code?: string; message?: string; rotationId?: string } } | undefined)?.error;
      const detail = e ? `${e.code ?? "Error"}: ${e.message ?? ""}${e.rotationId ? ` (running: ${e.rotationId})` : ""}` : `HTTP ${res.status}`;
      // 400/401 are the caller's mistake (usage) and 5xx means the service could not answer: 2.
      // 403 (not allowed, e.g. approving one's own request), 404, 409 and friends are the service saying no: 1.
      const exit = res.status === 400 || res.status === 401 || res.status >= 500 ? 2 : 1;
      const hint = res.status === 401 && !this.identity && !this.token ? " (say who you are: --as name:Role1,Role2 or KEYROTOR_AS locally; in Azure --scope or KEYROTOR_SCOPE, the app's API scope, or --token)" : "";
      throw new CliError(`${method} ${path} → ${res.status} ${detail}${hint}`, exit, parsed);
    }
    return { status: res.status, body: parsed as T };
  }

  get<T>(path: string) {
    return this.request<T>("GET", path).then((r) => r.body);
  }
  post<T>(path: string, body: unknown) {
    return this.request<T>("POST", path, body);
  }
}
