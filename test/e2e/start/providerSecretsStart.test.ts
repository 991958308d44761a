// `npm start`'s provider-secret stand-ins across restarts: the first start runs initdb and seeds one
// secret of each provider kind (the banner says so); Ctrl-C ends PostgreSQL with the app; a restart
// keeps the cluster (no initdb), the PostgreSQL port and the ARM peer's keys, so the seeded Key
// Vault secrets still authenticate; a restart whose kept PostgreSQL port something else holds is
// refused, naming the port; a restart whose ARM peer state was deleted alone is refused, naming the
// secret and the state directory; neither leaves anything running.
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../../dev/peers/azurite/launcher";
import { groupAlive, spawnNpmStart, stopStartedApp, untilReady, type StartPorts, type StartedApp } from "./npmStart";

const stateDir = mkdtempSync(path.join(tmpdir(), "keyrotor-provider-start-"));
let app: StartedApp | undefined;

function start(ports: StartPorts): StartedApp {
  app = spawnNpmStart(ports, stateDir, { KEYROTOR_ARM_ENDPOINT: "", KEYROTOR_POSTGRES_PORT: "", KEYROTOR_ARM_PEER_PORT: "" });
  return app;
}

const ready = (a: StartedApp): Promise<string> => untilReady(a, 180_000);

async function stop(a: StartedApp): Promise<void> {
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
  await stopStartedApp(a);
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
      const refusedCode = (await refused.exited).code;
      app = undefined;
      expect(refusedCode, refused.output()).not.toBe(0);
      expect(refused.output()).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(PostgreSQL\\) is already in use.*connection strings \\(in Key Vault\\) name port ${port}`));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }

    renameSync(path.join(stateDir, "arm-peer.json"), path.join(stateDir, "arm-peer.json.moved"));
    const third = start(ports);
    const { code } = await third.exited;
    app = undefined;
    expect(code, third.output()).not.toBe(0);
    expect(third.output()).toMatch(/secret:demo-vault\/storage-conn \(Key Vault version \w+\) does not authenticate at its provider/);
    expect(third.output()).toContain(stateDir);
    expect(await listening(port), "nothing left running").toBe(false);
  }, 500_000);
});
