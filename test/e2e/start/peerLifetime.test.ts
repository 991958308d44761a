// The peers run alone (`npm run peer:keyvault`, `npm run peer:servicebus`, a bench's child peer)
// end when the process that started them ends, even by kill -9, and refuse a port something else
// holds (issue 14, "never outlive or impersonate").
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../../..");
const PEERS = {
  "Key Vault": { main: "dev/peers/keyvault/main.ts", env: { KEYVAULT_PEER_STATE: "memory" }, ready: /listening on https:\/\/127\.0\.0\.1:\d+/ },
  "Service Bus": { main: "dev/peers/servicebus/main.ts", env: {}, ready: /listening on 127\.0\.0\.1:\d+/ },
} as const;

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

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number, output: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output:\n${output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A shell that starts the peer as its child and waits, the way npm's `sh -c` does. */
function launch(main: string, env: Record<string, string>) {
  let out = "";
  const shell = spawn("sh", ["-c", `"${process.execPath}" --import tsx ${main} & wait`], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_lifecycle_event: "", ...env },
  });
  const kill = (pid: number | undefined) => pid && alive(pid) && process.kill(pid, "SIGKILL");
  cleanups.push(() => {
    for (const c of childrenOf(shell.pid!)) kill(c);
    kill(shell.pid);
  });
  shell.stdout.on("data", (d: Buffer) => (out += d.toString()));
  shell.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => shell.once("exit", (code) => resolve(code)));
  return { shell, output: () => out, exited };
}

describe.each(Object.entries(PEERS))("the %s peer run alone", (_name, peer) => {
  it("ends within seconds when the process that started it is killed with SIGKILL", async () => {
    const run = launch(peer.main, { ...peer.env, PORT: "0" });
    await until("the peer to listen", () => (peer.ready.test(run.output()) ? true : undefined), 25_000, run.output);
    const [pid] = childrenOf(run.shell.pid!);
    expect(pid && alive(pid)).toBe(true);
    cleanups.push(() => alive(pid!) && process.kill(pid!, "SIGKILL"));
    run.shell.kill("SIGKILL");
    await until(`the peer (pid ${pid}) to end`, () => (alive(pid!) ? undefined : true), 8_000, run.output);
  });

  it("refuses a port something else holds, naming it and what to do", async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => server.close());
    const port = (server.address() as { port: number }).port;
    const run = launch(peer.main, { ...peer.env, PORT: String(port) });
    await run.exited;
    expect(run.output()).toContain(`port ${port} on 127.0.0.1`);
    expect(run.output()).toContain("set PORT to a free port");
    expect(peer.ready.test(run.output())).toBe(false);
  });
});
