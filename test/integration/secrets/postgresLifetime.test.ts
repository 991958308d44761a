// The test PostgreSQL never outlives the process that started it, even killed with kill -9, and
// never starts on a port something else holds.
import { spawn } from "node:child_process";
import { createServer, Socket } from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startPostgres } from "../../../dev/peers/postgres/launcher";
import { PortInUseError } from "../../../dev/peers/ports";

const ROOT = path.resolve(__dirname, "../../..");
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1");
  });
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("test PostgreSQL lifetime", () => {
  it("stops when the process that started it is killed with SIGKILL", async () => {
    let out = "";
    const parent = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "postgresParent.ts")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    cleanups.push(() => parent.pid && alive(parent.pid) && process.kill(parent.pid, "SIGKILL"));
    parent.stdout.on("data", (d: Buffer) => (out += d.toString()));
    parent.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await until("POSTGRES line", () => /POSTGRES \d+ \d+/.test(out), 60_000);
    const [, guard, port] = /POSTGRES (\d+) (\d+)/.exec(out)!.map(Number) as [number, number, number];
    cleanups.push(() => alive(guard) && process.kill(guard, "SIGTERM"));
    expect(await accepts(port)).toBe(true);
    process.kill(parent.pid!, "SIGKILL");
    await until("the server to stop", async () => !(await accepts(port)) && !alive(guard), 15_000);
  }, 90_000);

  it("refuses a fixed port something else holds, naming it", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => holder.close());
    const port = (holder.address() as { port: number }).port;
    await expect(startPostgres({ port, portRemedy: "set KEYROTOR_PG_PORT" })).rejects.toBeInstanceOf(PortInUseError);
    await expect(startPostgres({ port })).rejects.toThrow(String(port));
  });
});
