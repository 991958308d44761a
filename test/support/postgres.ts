// A real PostgreSQL (dev/peers/postgres) set up the way a DBA prepares alternating logins: a
// NOLOGIN role that holds the privileges, and two logins that are members of it.
import pg from "pg";
import { startPostgres, type PostgresServer } from "../../dev/peers/postgres/launcher";

export interface AlternatingLogins {
  server: PostgresServer;
  /** Admin connection string to the database (what adminConnectionSetting names). */
  adminUrl: string;
  database: string;
  /** The first login's connection string with its initial password (the secret before keyrotor). */
  initialUrl: string;
}

export async function adminQuery(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

export async function startAlternatingLogins(database = "orders", logins: [string, string] = ["app_a", "app_b"]): Promise<AlternatingLogins> {
  const server = await startPostgres();
  await adminQuery(server.adminUrl, `CREATE DATABASE ${database}`);
  const adminUrl = server.adminUrl.replace("/postgres?", `/${database}?`);
  const [a, b] = logins;
  await adminQuery(adminUrl, `CREATE ROLE app NOLOGIN; CREATE ROLE ${a} LOGIN PASSWORD 'initial-password' IN ROLE app; CREATE ROLE ${b} NOLOGIN IN ROLE app;
    CREATE TABLE orders (id int primary key); INSERT INTO orders VALUES (1), (2); GRANT SELECT ON orders TO app;`);
  return { server, adminUrl, database, initialUrl: `postgresql://${a}:initial-password@127.0.0.1:${server.port}/${database}?sslmode=disable` };
}

/** Opens a client (the caller ends it). */
export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on("error", () => {}); // a terminated session reports here too; the queries' rejections carry it
  await c.connect();
  return c;
}

/** The SQLSTATE a connection attempt fails with, or "ok". */
export async function loginResult(url: string): Promise<string> {
  try {
    const c = await connect(url);
    await c.query("SELECT count(*) FROM orders");
    await c.end();
    return "ok";
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? code : (err as Error).message;
  }
}
