// A consumer of the demo's database secret (secret:demo-vault/orders-db), for the README walkthrough:
// it reads the connection string from the Key Vault peer as an app would and uses it. No psql needed.
//
//   npm run -s demo:db -- --hold 120            stay connected, one query every 2 s, one line each;
//                                               when the server ends the session (the login was
//                                               retired), reconnect with what Key Vault hands out now
//   npm run -s demo:db -- --background <log>    the same in the background, its lines into <log>;
//                                               returns once connected (prints the session)
//   npm run -s demo:db -- --versions            every version of the secret: its login, and whether
//                                               it logs in now
//
// It finds the Key Vault peer through <state>/demo-db.json, which `npm start` writes (URL, CA file,
// secret name: no credential). It never prints a password.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { SecretClient } from "@azure/keyvault-secrets";
import pg from "pg";

export interface DemoDbInfo {
  keyVaultUrl: string;
  caFile: string;
  secret: string;
}

export const demoDbInfoFile = (stateDir: string): string => path.join(stateDir, "demo-db.json");

const stateDir = path.resolve(process.env.KEYROTOR_STATE_DIR || ".keyrotor");
const stamp = (): string => new Date().toISOString().slice(11, 19);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Key Vault peer accepts any bearer token (it is not Azure). */
const peerToken: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "keyrotor-demo-db-client", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

function info(): DemoDbInfo {
  const file = demoDbInfoFile(stateDir);
  if (!existsSync(file)) throw new Error(`[keyrotor] [demo-db] ${file} is missing: run \`npm start\` first (with the demo seed), in this directory or with the same KEYROTOR_STATE_DIR`);
  return JSON.parse(readFileSync(file, "utf8")) as DemoDbInfo;
}

function vault(i: DemoDbInfo): SecretClient {
  return new SecretClient(i.keyVaultUrl, peerToken, { tlsOptions: { ca: readFileSync(i.caFile, "utf8") }, disableChallengeResourceVerification: true });
}

/** The connection string as an app reads it: the secret's current (newest) version. */
async function current(i: DemoDbInfo): Promise<{ url: string; version: string }> {
  const s = await vault(i).getSecret(i.secret);
  return { url: s.value ?? "", version: s.properties.version ?? "?" };
}

async function connect(i: DemoDbInfo): Promise<{ client: pg.Client; pid: number; user: string; version: string }> {
  const { url, version } = await current(i);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {}); // a terminated session: the next query reports it
  await client.connect();
  const r = await client.query<{ pid: number; user: string }>("SELECT pg_backend_pid() AS pid, current_user AS user");
  return { client, pid: r.rows[0]!.pid, user: r.rows[0]!.user, version };
}

async function hold(seconds: number): Promise<void> {
  const i = info();
  const end = Date.now() + seconds * 1000;
  let s = await connect(i);
  console.log(`connected: session ${s.pid} as ${s.user} (secret version ${s.version.slice(0, 8)})`);
  while (Date.now() < end) {
    try {
      const r = await s.client.query<{ n: string }>("SELECT count(*) AS n FROM orders");
      console.log(`${stamp()} session ${s.pid} as ${s.user}: ${r.rows[0]!.n} orders`);
    } catch (err) {
      console.log(`${stamp()} session ${s.pid} as ${s.user} ended by the server (${(err as Error).message}); reconnecting with the secret Key Vault hands out now`);
      await s.client.end().catch(() => {});
      try {
        s = await connect(i);
      } catch (again) {
        console.log(`${stamp()} cannot reconnect: ${(again as Error).message}`);
        process.exitCode = 1;
        return;
      }
      console.log(`connected: session ${s.pid} as ${s.user} (secret version ${s.version.slice(0, 8)})`);
    }
    await sleep(2_000);
  }
  await s.client.end().catch(() => {});
}

/** Starts `--hold` detached with its output in `log`; returns once it says it is connected. */
async function background(log: string, seconds: number): Promise<void> {
  const fd = openSync(log, "w");
  const child = spawn(process.execPath, [...process.execArgv, __filename, "--hold", String(seconds)], { detached: true, stdio: ["ignore", fd, fd], env: process.env });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, "utf8") : "";
    const line = text.split("\n").find((l) => l.startsWith("connected: "));
    if (line) return void console.log(`${line} — holding it ${seconds} s in the background (pid ${child.pid}), its lines in ${log}`);
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`[keyrotor] [demo-db] the client did not connect: ${text.trim()}`);
    await sleep(200);
  }
}

async function versions(): Promise<void> {
  const i = info();
  const kv = vault(i);
  const all = [];
  for await (const p of kv.listPropertiesOfSecretVersions(i.secret)) all.push(p);
  all.sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
  for (const p of all) {
    const label = `${i.secret} ${String(p.version).slice(0, 8)} ${p.enabled ? "enabled " : "disabled"}`;
    if (!p.enabled) {
      console.log(`${label}  login ${p.tags?.slot ?? "?"}: disabled in Key Vault`);
      continue;
    }
    const url = (await kv.getSecret(i.secret, { version: p.version! })).value ?? "";
    const login = decodeURIComponent(new URL(url).username);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on("error", () => {});
    let result = "logs in";
    try {
      await client.connect();
      await client.query("SELECT 1");
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      result = `refused (${typeof code === "string" ? `SQLSTATE ${code}` : (err as Error).message})`;
    } finally {
      await client.end().catch(() => {});
    }
    console.log(`${label}  login ${login}: ${result}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const [mode, arg, extra] = argv;
  const seconds = (v: string | undefined, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new Error(`[keyrotor] [demo-db] seconds must be 1..3600, got "${v}"`);
    return n;
  };
  if (mode === "--hold") return hold(seconds(arg, 120));
  if (mode === "--background" && arg) return background(path.resolve(arg), seconds(extra, 120));
  if (mode === "--versions") return versions();
  throw new Error("[keyrotor] [demo-db] usage: demo:db -- --hold [seconds] | --background <log file> [seconds] | --versions");
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
