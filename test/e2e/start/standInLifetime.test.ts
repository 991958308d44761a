// Local stand-ins never outlive or impersonate (issue 14): Azurite ends when the process that
// started it ends, even by kill -9; `npm start` ends when its launcher is killed; and a start
// refuses a port held by anything it did not start in this run, naming the port and what to do.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, startAzuriteTables } from "../../../dev/peers/azurite/launcher";
import { PortInUseError } from "../../../dev/peers/ports";

const ROOT = path.resolve(__dirname, "../../..");
const TSX_CLI = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs `pid` at cleanup if it is still there, so a failing test leaves nothing running. */
function reap(pid: number | undefined): void {
  if (pid) cleanups.push(() => alive(pid) && process.kill(pid, "SIGKILL"));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number, output?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${output ? `; output:\n${output().slice(-3000)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let out = "";
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  reap(child.pid);
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Children of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function hold(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  cleanups.push(() => server.close());
  return { server, port: (server.address() as { port: number }).port };
}

/** Settings for a `dev/start.ts` on free ports with its own state, stand-ins only. */
async function startEnv(stateDir: string, ports?: Partial<Record<"http" | "azurite" | "keyVault" | "serviceBus", number>>): Promise<NodeJS.ProcessEnv> {
  return {
    PORT: String(ports?.http ?? (await freePort())),
    KEYROTOR_AZURITE_PORT: String(ports?.azurite ?? (await freePort())),
    KEYROTOR_KEYVAULT_PEER_PORT: String(ports?.keyVault ?? (await freePort())),
    KEYROTOR_SERVICEBUS_PEER_PORT: String(ports?.serviceBus ?? (await freePort())),
    KEYROTOR_STATE_DIR: stateDir,
    KEYROTOR_SEED: "false",
    KEYROTOR_TABLES_URL: "", KEYROTOR_TABLES_CONNECTION: "", KEYROTOR_VAULT_URLS: "",
    KEYROTOR_SERVICEBUS_NAMESPACE: "", KEYROTOR_SERVICEBUS_CONNECTION: "",
    npm_lifecycle_event: "",
  };
}

function tempState(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "keyrotor-standins-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("stand-ins never outlive the process that started them", () => {
  it("Azurite ends within seconds when its parent is killed with SIGKILL", async () => {
    const parent = run(["--import", "tsx", path.join(__dirname, "standInParent.ts")]);
    const [pid, port] = await until("Azurite's pid", () => /AZURITE (\d+) (\d+)/.exec(parent.output())?.slice(1).map(Number), 20_000, parent.output);
    reap(pid);
    expect(alive(pid!)).toBe(true);
    parent.child.kill("SIGKILL");
    await parent.exited;
    await until(`Azurite (pid ${pid}) to end`, () => (alive(pid!) ? undefined : true), 8_000);
    // And the port it held is free again for the next start.
    const again = await hold(port);
    expect(again.port).toBe(port);
  });

  it("npm start stops itself, Azurite with it, when its launcher (tsx) is killed with SIGKILL", async () => {
    const state = tempState();
    const app = run([TSX_CLI, "dev/start.ts"], await startEnv(state));
    // A start takes ~10 s alone; the ceiling is for a machine busy with the rest of the suite.
    await until("keyrotor ready", () => (app.output().includes("keyrotor ready") ? true : undefined), 60_000, app.output);
    const azurite = Number(/Azurite \S+ \(devstoreaccount1, pid (\d+)/.exec(app.output())?.[1]);
    const [start] = childrenOf(app.child.pid!);
    reap(azurite);
    reap(start);
    expect(alive(azurite)).toBe(true);
    expect(start).toBeDefined();
    app.child.kill("SIGKILL");
    await until("the orphaned start and its Azurite to end", () => (alive(start!) || alive(azurite) ? undefined : true), 10_000, app.output);
    expect(app.output()).toContain("is gone: stopping keyrotor");
  }, 120_000);
});

describe("a start never uses a port it did not take itself", () => {
  it("the Azurite launcher refuses a port something else holds, naming it and what to do, and starts nothing", async () => {
    const { port } = await hold();
    const before = childrenOf(process.pid);
    const err = await startAzuriteTables({ port, portRemedy: "set KEYROTOR_AZURITE_PORT to a free port" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as Error).message).toContain(`port ${port} on 127.0.0.1`);
    expect((err as Error).message).toContain("set KEYROTOR_AZURITE_PORT to a free port");
    expect(childrenOf(process.pid)).toEqual(before);
  });

  it("npm start refuses an Azurite port held by anything it did not start (an orphan of an earlier run), and exits", async () => {
    const { port } = await hold();
    const env = await startEnv(tempState(), { azurite: port });
    const app = run(["--import", "tsx", "dev/start.ts"], env);
    const code = await Promise.race([app.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000))]);
    expect(code, app.output()).toBe(1);
    expect(app.output()).toContain(`port ${port} on 127.0.0.1 (Azurite, the Table Storage stand-in) is already in use`);
    expect(app.output()).toContain("KEYROTOR_AZURITE_PORT");
    expect(app.output()).not.toContain("keyrotor ready");
    // It refused before starting anything: the other stand-ins' ports are still free.
    for (const p of [env.PORT, env.KEYROTOR_KEYVAULT_PEER_PORT, env.KEYROTOR_SERVICEBUS_PEER_PORT]) await hold(Number(p));
  }, 90_000);
});
