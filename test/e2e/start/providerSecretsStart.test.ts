// `npm start`'s provider-secret stand-ins across restarts: the first start runs initdb and seeds one
// secret of each provider kind (the banner says so); Ctrl-C ends PostgreSQL with the app; a restart
// keeps the cluster (no initdb), the PostgreSQL port and the ARM peer's keys, so the seeded Key
// Vault secrets still authenticate; a restart whose kept PostgreSQL port something else holds is
// refused, naming the port; a restart whose ARM peer state was deleted alone is refused, naming the
// secret and the state directory; neither leaves anything running.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../../dev/peers/azurite/launcher";

const ROOT = path.resolve(__dirname, "../../..");
const stateDir = mkdtempSync(path.join(tmpdir(), "keyrotor-provider-start-"));
let app: { child: ChildProcess; output: () => string; exited: Promise<number | null> } | undefined;

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function start(ports: Record<"http" | "azurite" | "keyVault" | "serviceBus", number>): NonNullable<typeof app> {
  let out = "";
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(ports.http), KEYROTOR_AZURITE_PORT: String(ports.azurite), KEYROTOR_KEYVAULT_PEER_PORT: String(ports.keyVault), KEYROTOR_SERVICEBUS_PEER_PORT: String(ports.serviceBus),
      KEYROTOR_STATE_DIR: stateDir,
      KEYROTOR_TABLES_URL: "", KEYROTOR_TABLES_CONNECTION: "", KEYROTOR_VAULT_URLS: "", KEYROTOR_SERVICEBUS_NAMESPACE: "", KEYROTOR_SERVICEBUS_CONNECTION: "",
      KEYROTOR_ARM_ENDPOINT: "", KEYROTOR_POSTGRES_PORT: "", KEYROTOR_ARM_PEER_PORT: "",
    },
  });
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  app = { child, output: () => out, exited };
  return app;
}

async function ready(a: NonNullable<typeof app>): Promise<string> {
  const deadline = Date.now() + 180_000;
  while (!a.output().includes("keyrotor ready")) {
    if (a.child.exitCode !== null) throw new Error(`npm start exited:\n${a.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready:\n${a.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return a.output();
}

async function stop(a: NonNullable<typeof app>): Promise<void> {
  if (a.child.pid && groupAlive(a.child.pid)) process.kill(-a.child.pid, "SIGINT");
  await a.exited;
  app = undefined;
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const postgresLine = (banner: string) => /^PostgreSQL +127\.0\.0\.1:(\d+) .*; (initdb now|cluster kept), started in ([\d.]+) s/m.exec(banner);

afterEach(async () => {
  const a = app;
  app = undefined;
  if (!a?.child.pid || !groupAlive(a.child.pid)) return;
  process.kill(-a.child.pid, "SIGINT");
  const timer = setTimeout(() => groupAlive(a.child.pid!) && process.kill(-a.child.pid!, "SIGKILL"), 15_000);
  await a.exited;
  clearTimeout(timer);
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("npm start's provider-secret stand-ins", () => {
  it("initdb once, the same port and keys after a restart, PostgreSQL ends with the app; a taken PostgreSQL port and a stand-in whose state was deleted alone are refused", async () => {
    const ports = { http: await freePort(), azurite: await freePort(), keyVault: await freePort(), serviceBus: await freePort() };
    const first = await ready(start(ports));
    const pg1 = postgresLine(first);
    expect(pg1, first).not.toBeNull();
    expect(pg1![2]).toBe("initdb now");
    expect(first).toMatch(/^provider secrets seeded now/m);
    for (const name of ["storage-conn", "bus-conn", "cosmos-conn", "orders-db"]) expect(first).toContain(`secret:demo-vault/${name}`);
    const port = Number(pg1![1]);
    expect(await listening(port)).toBe(true);
    await stop(app!);
    expect(await listening(port), "PostgreSQL ended with npm start").toBe(false);

    const second = await ready(start(ports));
    const pg2 = postgresLine(second);
    expect(pg2![2]).toBe("cluster kept");
    expect(Number(pg2![1])).toBe(port);
    expect(second).toMatch(/^provider secrets kept/m); // and the agreement check passed: it started
    console.log(`[figures] PostgreSQL start: first ${pg1![3]} s (initdb), restart ${pg2![3]} s`);
    await stop(app!);

    // Something else on the port the secrets' connection strings name: refused, never shared.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const refused = start(ports);
      const refusedCode = await refused.exited;
      app = undefined;
      expect(refusedCode, refused.output()).not.toBe(0);
      expect(refused.output()).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(PostgreSQL\\) is already in use.*connection strings \\(in Key Vault\\) name port ${port}`));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }

    renameSync(path.join(stateDir, "arm-peer.json"), path.join(stateDir, "arm-peer.json.moved"));
    const third = start(ports);
    const code = await third.exited;
    app = undefined;
    expect(code, third.output()).not.toBe(0);
    expect(third.output()).toMatch(/secret:demo-vault\/storage-conn \(Key Vault version \w+\) does not authenticate at its provider/);
    expect(third.output()).toContain(stateDir);
    expect(await listening(port), "nothing left running").toBe(false);
  }, 500_000);
});
