// The stand-ins `npm start` runs for provider secrets (docs/secret-providers.md): the ARM peer
// (storage account, Service Bus rule and Cosmos DB account keys, driven by the real @azure/arm-*
// clients) and a real PostgreSQL with two alternating logins. Both keep their state under the state
// directory, so a restart finds the keys and passwords the seeded Key Vault secrets hold:
//   <state>/arm-peer.json         the peer's resources and keys (owner-only), + its TLS certificate
//   <state>/postgres/data         the cluster: initdb runs on the first start only
//   <state>/postgres/port         the port PostgreSQL got on its first start (the secrets' connection
//                                 strings name it, so later starts use it again)
// Both end with this process (in-process server; PostgreSQL under a guard that watches it) and refuse
// a fixed port something else holds (dev/peers/ports.ts).
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { startArmPeer, type ArmPeer } from "../peers/arm";
import { freePort } from "../peers/azurite/launcher";
import { startPostgres, type PostgresServer } from "../peers/postgres/launcher";

/** Where the demo's provider secrets live (ARM ids, the database, its logins). */
export const DEMO_SECRETS = {
  subscriptionId: "00000000-0000-4000-8000-0000000de705",
  resourceGroup: "rg-keyrotor-demo",
  storageAccount: "demostore",
  serviceBusNamespace: "demo-bus",
  serviceBusRule: "app-send",
  cosmosAccount: "demo-cosmos",
  database: "orders",
  logins: ["app_a", "app_b"] as [string, string],
  /** The app setting holding the admin connection string the policy names (never the policy itself). */
  adminSetting: "KEYROTOR_PG_ADMIN_DEMO",
} as const;

export interface SecretStandIns {
  arm: ArmPeer;
  postgres: PostgresServer;
  /** Milliseconds PostgreSQL took to start, and whether this start ran initdb. */
  postgresStart: { ms: number; initdb: boolean };
  notes: string[];
  stop(): Promise<void>;
}

function portFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`[keyrotor] [start] ${name} must be a port number, got "${raw}"`);
  return port;
}

/** PostgreSQL runs as `nobody` when we are root (it refuses root): it must be able to reach its data
 * directory through the state directory, so that gets search (x) permission for others. Nothing is
 * listed or readable through it: every file keeps its own mode (the keys are owner-only). */
function letNobodyThrough(stateDir: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return;
  const mode = statSync(stateDir).mode & 0o7777;
  if ((mode & 0o001) === 0) chmodSync(stateDir, mode | 0o001);
}

export async function startSecretStandIns(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<SecretStandIns> {
  mkdirSync(stateDir, { recursive: true });
  const arm = await startArmPeer({ port: portFrom(env, "KEYROTOR_ARM_PEER_PORT") ?? 0, stateFile: path.join(stateDir, "arm-peer.json"), portRemedy: "set KEYROTOR_ARM_PEER_PORT to a free port" });
  const d = DEMO_SECRETS;
  arm.addStorageAccount(d.subscriptionId, d.resourceGroup, d.storageAccount);
  arm.addServiceBusRule(d.subscriptionId, d.resourceGroup, d.serviceBusNamespace, d.serviceBusRule);
  arm.addCosmosAccount(d.subscriptionId, d.resourceGroup, d.cosmosAccount);

  let postgres: PostgresServer;
  let postgresStart: SecretStandIns["postgresStart"];
  try {
    letNobodyThrough(stateDir);
    const root = path.join(stateDir, "postgres");
    const portFile = path.join(root, "port");
    const kept = existsSync(portFile) ? Number(readFileSync(portFile, "utf8").trim()) : undefined;
    const port = portFrom(env, "KEYROTOR_POSTGRES_PORT") ?? kept ?? (await freePort());
    const initdb = !existsSync(path.join(root, "data", "PG_VERSION"));
    const t0 = performance.now();
    postgres = await startPostgres({
      port, dataDir: root,
      portRemedy: kept === port
        ? `free it: the demo's connection strings (in Key Vault) name port ${port} (or delete ${stateDir} to start over)`
        : "set KEYROTOR_POSTGRES_PORT to a free port",
    });
    postgresStart = { ms: Math.round(performance.now() - t0), initdb };
    writeFileSync(portFile, String(postgres.port));
    await prepareDemoDatabase(postgres);
  } catch (err) {
    await arm.stop();
    throw err;
  }
  // What the app's secret providers read (lib/secrets/compose.ts): the peer, its CA, its token.
  env.KEYROTOR_ARM_ENDPOINT = arm.url;
  env.KEYROTOR_ARM_CA_FILE = arm.caFile;
  env.KEYROTOR_ARM_CREDENTIAL = "local-peer";
  env[d.adminSetting] = demoAdminUrl(postgres);
  const notes = [
    `ARM            peer ${arm.url} (Storage, Service Bus, Cosmos DB keys; state in ${path.join(stateDir, "arm-peer.json")})`,
    `PostgreSQL     127.0.0.1:${postgres.port} (database ${d.database}, logins ${d.logins.join("/")}; ${postgresStart.initdb ? "initdb now" : "cluster kept"}, started in ${(postgresStart.ms / 1000).toFixed(1)} s; data in ${path.join(stateDir, "postgres")})`,
  ];
  return {
    arm, postgres, postgresStart, notes,
    stop: async () => {
      await Promise.all([arm.stop(), postgres.stop()]);
    },
  };
}

/** The admin connection string to the demo database (the app setting the policy names). */
export function demoAdminUrl(server: Pick<PostgresServer, "adminUrl">): string {
  return server.adminUrl.replace(/\/postgres\?/, `/${DEMO_SECRETS.database}?`);
}

/** The database, the role holding the privileges and the two logins, as a DBA prepares them
 * (docs/secret-providers.md). Each step only when missing: a restart changes nothing. The first
 * login gets its password from the seed (as the secret's first version), the second from keyrotor's
 * first rotation. */
async function prepareDemoDatabase(server: PostgresServer): Promise<void> {
  const d = DEMO_SECRETS;
  const run = async (url: string, fn: (c: pg.Client) => Promise<void>) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await fn(c);
    } finally {
      await c.end();
    }
  };
  await run(server.adminUrl, async (c) => {
    const has = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [d.database]);
    if (has.rowCount === 0) await c.query(`CREATE DATABASE ${d.database}`);
  });
  await run(demoAdminUrl(server), async (c) => {
    const roles = new Set((await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles")).rows.map((r) => r.rolname));
    if (!roles.has("app")) await c.query("CREATE ROLE app NOLOGIN");
    for (const login of d.logins) if (!roles.has(login)) await c.query(`CREATE ROLE ${login} NOLOGIN IN ROLE app`);
    await c.query("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, item text NOT NULL)");
    await c.query("INSERT INTO orders VALUES (1, 'keyboard'), (2, 'monitor') ON CONFLICT DO NOTHING");
    await c.query("GRANT SELECT ON orders TO app");
  });
}
