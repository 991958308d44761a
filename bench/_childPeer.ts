// The Key Vault peer in its own process (as Key Vault is remote), for the benches: client and peer
// each get a core. Named with a leading "_" so bench/run.ts does not list it as a bench.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import path from "node:path";

export interface ChildPeer {
  url: string;
  caPem: string;
  /** The peer's CA as a file (what the app's KEYROTOR_KEYVAULT_CA_FILE setting names). */
  caFile: string;
  pid: number;
  /** The peer's admin API (throttle, stats, faults) over HTTPS, trusting only its CA. */
  admin(method: string, route: string, body?: unknown): Promise<ReturnType<typeof JSON.parse>>;
  stop(): Promise<void>;
}

export async function startChildPeer(env: Record<string, string> = {}): Promise<ChildPeer> {
  const main = path.resolve(__dirname, "..", "dev", "peers", "keyvault", "main.ts");
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", main], {
    env: { ...process.env, PORT: "0", KEYVAULT_PEER_STATE: "memory", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const { url, caFile } = await new Promise<{ url: string; caFile: string }>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("[keyrotor] [bench] the Key Vault peer did not start within 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`[keyrotor] [bench] the Key Vault peer exited with ${code}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const u = /listening on (https:\/\/\S+)/.exec(out);
      const c = /CA file:\s+(\S+)/.exec(out);
      if (u && c) {
        clearTimeout(timer);
        resolve({ url: u[1]!, caFile: c[1]! });
      }
    });
  });
  const caPem = readFileSync(caFile, "utf8");
  const admin = (method: string, route: string, body?: unknown): Promise<ReturnType<typeof JSON.parse>> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(new URL(route, url), { method, ca: caPem, headers: payload ? { "content-type": "application/json" } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 300) return reject(new Error(`[keyrotor] [bench] peer admin ${method} ${route}: ${res.statusCode} ${text}`));
          resolve(text ? JSON.parse(text) : undefined);
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  };
  return {
    url, caPem, caFile, pid: child.pid ?? 0, admin,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}
