// PostgreSQL passwords with two alternating logins (Azure Database for PostgreSQL or any
// PostgreSQL): the secret is a full connection string for one login. keyrotor chooses the password,
// stores the connection string, then sets the password on the login not in use; retirement takes
// the old login's right to log in away and ends its sessions.
//
// The password reaches the server only as a SCRAM-SHA-256 verifier computed here (what psql's
// \password does): the plaintext never appears in a statement, so never in a server log.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { DependencyUnavailableError, InvalidRequestError } from "../domain/errors";
import { postgresConnectionString, type ProviderSpecOf } from "../domain/secretProviders";
import type { CredentialCheck, KeyrotorIssuedCredentials } from "./port";

type Spec = ProviderSpecOf<"postgresPassword">;

/** SQLSTATEs of a rejected login: invalid_password, invalid_authorization_specification. */
const REJECTED = new Set(["28P01", "28000"]);

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, 4096 iterations). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

export interface PostgresProviderOptions {
  /** Reads the app setting the policy names (adminConnectionSetting). */
  setting: (name: string) => string | undefined;
  connectTimeoutMs?: number;
}

function unavailable(spec: Spec, err: unknown): DependencyUnavailableError {
  const message = err instanceof Error ? err.message : String(err);
  return new DependencyUnavailableError("postgres", `[keyrotor] [secrets] PostgreSQL ${spec.host}:${spec.port}/${spec.database} could not be reached: ${message}`, { cause: err });
}

export function postgresProvider(spec: Spec, opts: PostgresProviderOptions): KeyrotorIssuedCredentials {
  const timeout = opts.connectTimeoutMs ?? 10_000;

  async function withClient<T>(connectionString: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeout });
    client.on("error", () => {}); // a server-side disconnect after use must not crash the process
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async function asAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const admin = opts.setting(spec.adminConnectionSetting);
    if (!admin) {
      throw new InvalidRequestError("SettingMissing", `[keyrotor] [secrets] app setting ${spec.adminConnectionSetting} (the PostgreSQL admin connection string the policy names) is not set`, { field: "secret.provider.adminConnectionSetting" });
    }
    try {
      return await withClient(admin, fn);
    } catch (err) {
      if (err instanceof InvalidRequestError) throw err;
      throw unavailable(spec, err);
    }
  }

  function loginOf(slot: string): string {
    if (!spec.logins.includes(slot)) throw new InvalidRequestError("SlotUnknown", `[keyrotor] [secrets] ${slot} is not one of the policy's logins (${spec.logins.join(", ")})`, { field: "slot" });
    return slot;
  }

  return {
    kind: "postgresPassword",
    issuer: "keyrotor",
    slots: spec.logins,
    compose: (slot, password) => postgresConnectionString(spec, loginOf(slot), password),

    async apply(slot, credential) {
      const login = loginOf(slot);
      const url = new URL(credential);
      if (decodeURIComponent(url.username) !== login) throw new InvalidRequestError("SlotMismatch", `[keyrotor] [secrets] the credential is for ${url.username}, not ${login}`);
      const verifier = scramVerifier(decodeURIComponent(url.password));
      await asAdmin(async (c) => {
        await c.query(`ALTER ROLE ${c.escapeIdentifier(login)} WITH LOGIN PASSWORD ${c.escapeLiteral(verifier)}`);
      });
    },

    async validate(credential): Promise<CredentialCheck> {
      try {
        await withClient(credential, (c) => c.query("SELECT 1"));
        return { ok: true };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && REJECTED.has(code)) return { ok: false, reason: `PostgreSQL refused the login (SQLSTATE ${code})` };
        throw unavailable(spec, err);
      }
    },

    async retire(slot) {
      const login = loginOf(slot);
      await asAdmin(async (c) => {
        // No new sessions, no stored verifier, and the sessions opened with the old password end:
        // a pool that connected during the overlap reconnects with the current secret.
        await c.query(`ALTER ROLE ${c.escapeIdentifier(login)} WITH NOLOGIN PASSWORD NULL`);
        await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", [login]);
      });
    },
  };
}
