// Starts Azurite's Table service as a child process on loopback. Pinned to 3.35.x because later
// releases need Node 22. Used by the test setup (in-memory) and by `npm start` (persisted).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import { mkdirSync } from "node:fs";
import path from "node:path";

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
}

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

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`[keyrotor] [azurite] exited early with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`[keyrotor] [azurite] not listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

export async function startAzuriteTables(opts: AzuriteOptions = {}): Promise<AzuriteTables> {
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const args = [azuriteBin(), "--tableHost", "127.0.0.1", "--tablePort", String(port), "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"];
  if (opts.location) {
    mkdirSync(opts.location, { recursive: true });
    args.push("--location", opts.location);
  } else {
    args.push("--inMemoryPersistence");
  }
  // Its own process group: a terminal's Ctrl-C must not reach Azurite directly. It handles only the
  // first SIGINT gracefully (saving its database); the second one, from stop(), would kill it
  // half-way through that save. stop() alone ends it, after the app has made its last writes.
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitForPort(port, child, 20_000);
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
