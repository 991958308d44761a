// The banner `npm start` prints ends with sample commands; a user pastes them into one shell in the
// checkout. Each must succeed exactly as printed (shell quoting included), on whatever port the
// host was given: started here as start.test.ts starts it (its own process group, ephemeral ports,
// state in a temporary directory), the commands are taken from the printed banner and run in one
// bash session, and every one must exit 0.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../../dev/peers/azurite/launcher";
import { spawnNpmStart, stopStartedApp, untilReady, type StartedApp } from "./npmStart";

const ROOT = path.resolve(__dirname, "../../..");
const stateDir = mkdtempSync(path.join(tmpdir(), "keyrotor-banner-"));
let app: StartedApp | undefined;

async function startApp(): Promise<StartedApp> {
  const ports = { http: await freePort(), azurite: await freePort(), keyVault: await freePort(), serviceBus: await freePort() };
  app = spawnNpmStart(ports, stateDir);
  await untilReady(app);
  return app;
}

/** The indented lines under "Try it", as printed. */
function sampleCommands(banner: string): string[] {
  const lines = banner.split("\n");
  const from = lines.findIndex((l) => l.startsWith("Try it"));
  expect(from, "the banner has a 'Try it' section").toBeGreaterThanOrEqual(0);
  const cmds: string[] = [];
  for (const l of lines.slice(from + 1)) {
    if (!l.startsWith("  ")) break;
    cmds.push(l.slice(2));
  }
  return cmds;
}

/** Runs the commands in one bash session (shell variables carry over, as in a terminal) and
 * returns each one's exit code and the session's output. */
function runSession(cmds: string[]): Promise<{ codes: number[]; output: string }> {
  const script = cmds.map((c, i) => `${c}\nrc=$?; echo; echo "__banner_rc__ ${i} $rc"`).join("\n");
  // What a user's shell has: no KEYROTOR_URL / KEYROTOR_AS left over from the test environment.
  const { KEYROTOR_URL: _u, KEYROTOR_AS: _a, KEYROTOR_TOKEN: _t, ...env } = process.env;
  return new Promise((resolve) => {
    const p = spawn("bash", ["-c", script], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (d: Buffer) => (output += d.toString()));
    p.stderr.on("data", (d: Buffer) => (output += d.toString()));
    p.once("close", () => {
      const codes: number[] = [];
      for (const m of output.matchAll(/^__banner_rc__ (\d+) (\d+)$/gm)) codes[Number(m[1])] = Number(m[2]);
      resolve({ codes, output });
    });
  });
}

afterEach(async () => {
  const a = app;
  app = undefined;
  await stopStartedApp(a);
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("npm start's banner", () => {
  it("prints sample commands that each exit 0 when pasted as printed into one shell, on a host started on a non-default port", async () => {
    const started = await startApp();
    const cmds = sampleCommands(started.output());
    expect(cmds.length).toBeGreaterThanOrEqual(8);
    for (const c of cmds) expect(c, "no <placeholder> (a shell reads it as a redirection)").not.toMatch(/<[A-Za-z]+>/);

    const { codes, output } = await runSession(cmds);

    const failed = cmds.map((c, i) => ({ c, code: codes[i] })).filter((r) => r.code !== 0);
    expect(failed, `session output:\n${output.slice(-4000)}`).toEqual([]);
    // The emergency was approved by the second person and the evidence landed in the state dir.
    expect(output).toMatch(/approved: secret:/);
    expect(existsSync(path.join(stateDir, "evidence")) && readdirSync(path.join(stateDir, "evidence"))).toContain("manifest.json");
  }, 330_000);
});
