// `npm start` as a user runs it: a child process (its own process group, as in a terminal), the
// README's walkthrough through the keyrotor CLI and HTTP, Ctrl-C (SIGINT to the group), and then a
// restart on the same state: the ledger chain carries on and nothing is seeded twice. Every port is
// a free ephemeral one (PORT and the KEYROTOR_*_PORT overrides), state in a temporary directory.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../../dev/peers/azurite/launcher";
import { encodePrincipal } from "../../../lib/http/principal";
import { groupAlive, spawnNpmStart, stopStartedApp, untilReady, type StartedApp } from "./npmStart";

const ROOT = path.resolve(__dirname, "../../..");
const CLI = path.join(ROOT, "bin", "keyrotor");
const VAULT = "demo-vault";
const KEK = `kek:${VAULT}/tenant-kek`;
const SIGNING = `signing:${VAULT}/token-signing`;
const SECRET = `secret:${VAULT}/webhook-secret`;

let ports: { http: number; azurite: number; keyVault: number; serviceBus: number };
const stateDir = mkdtempSync(path.join(tmpdir(), "keyrotor-e2e-"));
let running: StartedApp | undefined;

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, app?: StartedApp): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${app ? `; output:\n${app.output().slice(-3000)}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** Runs the CLI as a user would; returns exit code and output. */
function cli(args: string[], as?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, KEYROTOR_URL: `http://127.0.0.1:${ports.http}`, ...(as ? { KEYROTOR_AS: as } : { KEYROTOR_AS: "" }) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function cliJson<T>(args: string[], as: string): Promise<T> {
  const r = await cli(["--json", ...args], as);
  expect(r.code, `keyrotor ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

async function http(pathname: string, as?: { name: string; roles: string[] }): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${ports.http}${pathname}`, { headers: as ? { "x-ms-client-principal": encodePrincipal(as.name, as.roles) } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function startAndWaitReady(): Promise<StartedApp> {
  const app = spawnNpmStart(ports, stateDir);
  running = app;
  await untilReady(app);
  return app;
}

/** Ctrl-C: SIGINT to the whole process group; then nothing of it may be left and the ports are free. */
async function interruptAndCheck(app: StartedApp): Promise<void> {
  const pid = app.child.pid!;
  process.kill(-pid, "SIGINT");
  const { code, signal } = await app.exited;
  running = undefined;
  // npm itself may end by the same SIGINT (as in a terminal); the app must have stopped cleanly.
  expect(code === 0 || signal === "SIGINT", `npm exited ${code ?? signal}: ${app.output().slice(-2000)}`).toBe(true);
  expect(app.output()).toMatch(/SIGINT: stopping keyrotor…\n.*stopped\n/);
  expect(app.output()).not.toContain("fatal");
  await until("every process of the group to end", () => (groupAlive(pid) ? undefined : true), 10_000, app);
  for (const port of Object.values(ports)) expect(await portFree(port), `port ${port} is still taken`).toBe(true);
}

interface RotationSummary { rotationId: string; keyId: string; trigger?: string; status: string; phase: string }
interface RotationView { rotationId: string; phase: string; runtimeStatus: string; progress?: { rewrapped: number; total: number }; versionAfter?: string }
interface Verification { ok: boolean; chains: number; entries: number; seals: number }
interface LedgerEntry { seq: number; entryId: string; rotationId?: string }

async function ledgerOf(keyId: string): Promise<LedgerEntry[]> {
  const r = await http(`/api/ledger/${keyId}?limit=1000`, { name: "carol", roles: ["KeyRotation.Auditor"] });
  expect(r.status).toBe(200);
  return (r.body as { entries: LedgerEntry[] }).entries;
}

// A failed step must not leave the app running (the restart needs its ports): stop it as a user would.
afterEach(async () => {
  const app = running;
  running = undefined;
  await stopStartedApp(app);
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("npm start", () => {
  let secretChainBefore: LedgerEntry[] = [];
  let entriesBefore = 0;

  it("starts, seeds the demo, runs the walkthrough, and stops cleanly on Ctrl-C", async () => {
    ports = { http: await freePort(), azurite: await freePort(), keyVault: await freePort(), serviceBus: await freePort() };
    const app = await startAndWaitReady();
    expect(app.output()).toContain("seeded now: 23 keys, 1000 DEKs");
    expect(app.output()).toContain(`curl -s http://127.0.0.1:${ports.http}/api/plan -H 'x-ms-client-principal: `);

    // Health needs no identity; the plan does.
    expect((await http("/api/health")).status).toBe(200);
    expect((await cli(["plan"])).code).toBe(2);

    // 1. The plan over a year (the README's): every seeded key, the annual KEK included, the signing key due now (or already rotated by the first timer run).
    const plan = await cliJson<{ items: { keyId: string; kind: string }[] }>(["plan", "--horizon", "P1Y"], "alice:Auditor");
    expect(plan.items).toHaveLength(27); // 23 demo keys + 4 provider secrets (dev/startSecrets)
    expect(plan.items.filter((i) => i.kind === "dek")).toHaveLength(20);

    // The overdue signing key is rotated by the timer on its own, within the first minute.
    const scheduled = await until("the scheduled signing-key rotation", async () => {
      const r = await cliJson<{ rotations: RotationSummary[] }>(["status", "--key", SIGNING], "alice:Auditor");
      return r.rotations.find((x) => x.trigger === "schedule" && x.status === "completed");
    }, 60_000, app);
    expect(scheduled.rotationId).toMatch(/^signing:demo-vault\/token-signing@/);
    const jwks = await http(`/api/jwks/${VAULT}/token-signing`);
    expect((jwks.body as { keys: unknown[] }).keys.length).toBeGreaterThanOrEqual(2);

    // 2-3. Rotate the KEK by hand and watch all 1,000 DEKs being re-wrapped.
    const started = await cliJson<{ rotationId: string; status: string }>(["rotate", KEK, "--reason", "e2e walkthrough"], "alice:Operator");
    expect(started.status).toBe("running");
    const watched = await cliJson<RotationView>(["status", started.rotationId, "--watch"], "alice:Auditor");
    expect(watched).toMatchObject({ phase: "completed", runtimeStatus: "Completed", progress: { rewrapped: 1000, total: 1000 } });

    // 4. An emergency needs a second person: the requester cannot approve it (exit 1), bob can.
    const emergency = await cliJson<{ rotationId: string; status: string }>(["rotate", SECRET, "--emergency", "--reason", "leaked in a log"], "alice:Operator,Approver");
    expect(emergency.status).toBe("pendingApproval");
    const self = await cli(["approve", emergency.rotationId], "alice:Operator,Approver");
    expect(self.code).toBe(1);
    expect(self.stderr.trim().split("\n")).toHaveLength(1);
    await cliJson(["approve", emergency.rotationId], "bob:Approver");
    const done = await cliJson<RotationView>(["status", emergency.rotationId, "--watch"], "bob:Auditor");
    expect(done.phase).toBe("completed");

    // 5. The ledger verifies (chains, entries and signed seals).
    const verified = await cliJson<Verification>(["ledger", "verify"], "carol:Auditor");
    expect(verified.ok).toBe(true);
    expect(verified.seals).toBeGreaterThanOrEqual(3);
    entriesBefore = verified.entries;
    secretChainBefore = await ledgerOf(SECRET);

    // 6. Evidence for the period, as files.
    const out = path.join(stateDir, "evidence");
    const ev = await cliJson<{ summary: { rotations: number; emergencies: number } }>(["evidence", "--from", "2026-01-01", "--to", "2099-01-01", "--out", out], "carol:Auditor");
    expect(ev.summary.rotations).toBeGreaterThanOrEqual(3);
    expect(ev.summary.emergencies).toBe(1);
    expect(readdirSync(out).sort()).toEqual(["compliance.csv", "evidence.json", "manifest.json", "rotations.csv", "summary.md"]);
    // ...signed by the seal key: it verifies offline with the public key the host wrote beside the private one.
    const packOk = await cliJson<{ ok: boolean; files: number }>(["evidence", "verify", out, "--public-key", path.join(stateDir, "ledger-seal-key.pub.pem")], "carol:Auditor");
    expect(packOk).toMatchObject({ ok: true, files: 4 });

    await interruptAndCheck(app);
    expect(existsSync(path.join(stateDir, "azurite"))).toBe(true);
  }, 300_000);

  it("restarts on the same state: nothing is seeded twice and the ledger chain carries on", async () => {
    const app = await startAndWaitReady();
    expect(app.output()).toContain("demo seed      kept from");
    expect(app.output()).not.toContain("seeded now");
    const keys = await cliJson<{ keys: { keyId: string }[] }>(["keys"], "carol:Auditor");
    expect(keys.keys).toHaveLength(27); // 23 demo keys + 4 provider secrets

    const again = await cliJson<{ rotationId: string }>(["rotate", SECRET, "--reason", "after restart"], "alice:Operator");
    expect((await cliJson<RotationView>(["status", again.rotationId, "--watch"], "alice:Auditor")).phase).toBe("completed");
    const chain = await ledgerOf(SECRET);
    expect(chain.slice(0, secretChainBefore.length)).toEqual(secretChainBefore);
    expect(chain.length).toBeGreaterThan(secretChainBefore.length);
    expect(chain.map((e) => e.seq)).toEqual(chain.map((_, i) => i + 1));

    const verified = await cliJson<Verification>(["ledger", "verify"], "carol:Auditor");
    expect(verified.ok).toBe(true);
    expect(verified.entries).toBeGreaterThan(entriesBefore);

    await interruptAndCheck(app);
  }, 240_000);
});
