// Starts Azurite's Table service as a child process on loopback. Pinned to 3.35.x because later
// releases need Node 22. Used by the test setup (in-memory) and by `npm start` (persisted).
//
// Azurite never outlives the process that started it, however that one ends (kill -9, OOM kill, a
// closed terminal): it runs behind GUARD, which stops it when its stdin pipe from the parent
// closes (the kernel closes it when the parent dies) or its parent pid changes. And a start
// never uses an Azurite it did not launch: a fixed port must be free first, and readiness is
// Azurite's own "successfully started" line from this child, not "something answers the port".
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { ensurePortFree } from "../ports";

export const DEVSTORE_ACCOUNT = "devstoreaccount1";
/** Azurite's published, well-known development key (not a secret). */
export const DEVSTORE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteTables {
  /** e.g. http://127.0.0.1:10002/devstoreaccount1 */
  readonly url: string;
  readonly port: number;
  readonly connectionString: string;
  /** The Azurite process (benchmarks read its CPU time and peak memory). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** 0 (default) picks a free loopback port. */
  port?: number;
  /** Persist under this folder; omitted = in-memory. */
  location?: string;
  /** What to tell the user to do when `port` is taken (e.g. the setting that moves it). */
  portRemedy?: string;
}

/**
 * Runs as `node -e GUARD <azurite entry> <parent pid> <azurite args...>` and becomes Azurite (it
 * requires Azurite's entry point in the same process, so the pid the caller holds is Azurite's).
 * When the parent is gone it sends itself SIGINT, which Azurite handles by saving its database
 * and closing; the exit timer is the backstop. stdin and the poll are unref'd: they never keep
 * Azurite alive once its server has closed.
 */
const GUARD = `"use strict";
const entry = process.argv[1];
const parent = Number(process.argv[2]);
process.argv = [process.argv[0], entry, ...process.argv.slice(3)];
let lost = false;
const poll = setInterval(() => { if (process.ppid !== parent) parentGone(); }, 250);
poll.unref();
function parentGone() {
  if (lost) return;
  lost = true;
  clearInterval(poll);
  setTimeout(() => process.exit(0), 5000).unref();
  process.kill(process.pid, "SIGINT");
}
for (const out of [process.stdout, process.stderr]) out.on("error", () => {});
process.stdin.on("end", parentGone).on("close", parentGone).on("error", parentGone);
process.stdin.resume();
if (typeof process.stdin.unref === "function") process.stdin.unref();
require(entry);
`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function azuriteBin(): string {
  // Resolve the package's own entry point so no shell or PATH lookup is involved.
  const pkgJson = require.resolve("azurite/package.json");
  return path.join(path.dirname(pkgJson), "dist", "src", "table", "main.js");
}

/** Resolves when this child prints Azurite's own "started on host:port" line. */
async function waitForStarted(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const started = `successfully started on 127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => done(new Error(`[keyrotor] [azurite] not started on 127.0.0.1:${port} after ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(started)) done();
    };
    const onExit = (code: number | null) => done(new Error(`[keyrotor] [azurite] exited early with code ${code}`));
    function done(err?: Error) {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve();
    }
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
  // Keep draining: a full stdout pipe would block Azurite's next console line.
  child.stdout?.resume();
}

export async function startAzuriteTables(opts: AzuriteOptions = {}): Promise<AzuriteTables> {
  if (opts.port && opts.port > 0) await ensurePortFree(opts.port, "Azurite Table service", opts.portRemedy ?? "start Azurite on another port");
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const args = ["--tableHost", "127.0.0.1", "--tablePort", String(port), "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"];
  if (opts.location) {
    mkdirSync(opts.location, { recursive: true });
    args.push("--location", opts.location);
  } else {
    args.push("--inMemoryPersistence");
  }
  // Its own process group: a terminal's Ctrl-C must not reach Azurite directly. It handles only the
  // first SIGINT gracefully (saving its database); the second one, from stop(), would kill it
  // half-way through that save. stop() alone ends it, after the app has made its last writes —
  // or GUARD does, when this process is gone. stdin is the pipe GUARD watches: never written to.
  const child = spawn(process.execPath, ["-e", GUARD, azuriteBin(), String(process.pid), ...args], { stdio: ["pipe", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitForStarted(child, port, 20_000);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}${stderr ? `: ${stderr.trim()}` : ""}`, { cause: err });
  }
  const url = `http://127.0.0.1:${port}/${DEVSTORE_ACCOUNT}`;
  return {
    url,
    port,
    pid: child.pid,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEVSTORE_ACCOUNT};AccountKey=${DEVSTORE_KEY};TableEndpoint=${url};`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        // SIGINT, not SIGTERM: Azurite saves its database (autosave runs only every 5 s) on SIGINT
        // alone; SIGTERM ends it at once and loses the last seconds of writes of a persisted run.
        child.kill("SIGINT");
        setTimeout(() => child.kill("SIGKILL"), 3_000).unref();
      }),
  };
}
