// The README's five-minute walkthrough, run as printed: every command of its ```sh blocks, in order,
// by bash in the checkout, against `npm start`. The only changes are the ones a reader's machine
// makes too: the ports (this host runs on free ones: KEYROTOR_URL, the curl URL and the Azurite port
// of the --storage connection string), the state directory (`.keyrotor/` is a temporary one here,
// named by KEYROTOR_STATE_DIR, and `./evidence` goes into it), and the rotationIds the README shows as samples, which are the
// ones the earlier commands printed. Each command must exit as the README says (`# exit 1: …`, else
// 0) and print what its `# …` line shows.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../../dev/peers/azurite/launcher";
import { spawnNpmStart, stopStartedApp, untilReady, type StartPorts, type StartedApp } from "./npmStart";

const ROOT = path.resolve(__dirname, "../../..");
const stateDir = mkdtempSync(path.join(tmpdir(), "keyrotor-readme-"));
let app: StartedApp | undefined;

interface Step {
  command: string;
  /** What the README says it exits with (`# exit 1: …`), else 0. */
  exit: number;
  /** The output line the README shows under it (`# started: kek:…`), if any. */
  prints?: string;
}

/** The walkthrough's commands: ```sh blocks between "## Five-minute walkthrough" and the next "##"
 * heading, continuation lines joined, with the README's own expectations. */
export function walkthroughSteps(readme: string): Step[] {
  const start = readme.indexOf("## Five-minute walkthrough");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end);
  const steps: Step[] = [];
  for (const block of section.matchAll(/```sh\n([^]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n\s*/g, "").split("\n").filter((l) => l.trim());
    for (const line of lines) {
      if (line.startsWith("#")) {
        const shown = line.slice(1).trim();
        const last = steps.at(-1);
        if (last && /^[a-z ]+: /.test(shown)) last.prints = shown;
        continue;
      }
      const exit = /#\s*exit (\d+)/.exec(line);
      steps.push({ command: line, exit: exit ? Number(exit[1]) : 0 });
    }
  }
  return steps;
}

async function startApp(ports: StartPorts): Promise<StartedApp> {
  app = spawnNpmStart(ports, stateDir);
  await untilReady(app);
  return app;
}

function bash(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn("bash", ["-c", command], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

afterEach(async () => {
  const a = app;
  app = undefined;
  await stopStartedApp(a);
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("the README's walkthrough", () => {
  it("is read whole: plan, status, curl, rotate, watch, the emergency's four commands, both verifies, evidence and its check, the database password rotated under a connected client", () => {
    const steps = walkthroughSteps(readFileSync(path.join(ROOT, "README.md"), "utf8"));
    expect(steps.map((s) => s.command.split(" ").slice(0, 3).join(" ").trim())).toEqual([
      "node bin/keyrotor plan", "node bin/keyrotor status", "curl -s http://127.0.0.1:7071/api/plan",
      "node bin/keyrotor rotate", "node bin/keyrotor status",
      "node bin/keyrotor rotate", "node bin/keyrotor approve", "node bin/keyrotor approve", "node bin/keyrotor status",
      "node bin/keyrotor ledger", "node bin/keyrotor ledger",
      "node bin/keyrotor evidence", "node bin/keyrotor evidence",
      "npm run -s", "node bin/keyrotor rotate", "node bin/keyrotor status", "npm run -s", "cat .keyrotor/db-client.log",
    ]);
    expect(steps.filter((s) => s.exit !== 0)).toHaveLength(1);
  });

  it("runs every step as printed, each exiting and printing as the README says", async () => {
    const ports = { http: await freePort(), azurite: await freePort(), keyVault: await freePort(), serviceBus: await freePort() };
    await startApp(ports);
    const steps = walkthroughSteps(readFileSync(path.join(ROOT, "README.md"), "utf8"));
    // A reader's shell: the URL of this host, nothing else of the test's environment.
    const { KEYROTOR_AS: _a, KEYROTOR_TOKEN: _t, KEYROTOR_SCOPE: _s, ...rest } = process.env;
    const env = { ...rest, KEYROTOR_URL: `http://127.0.0.1:${ports.http}`, KEYROTOR_STATE_DIR: stateDir };
    /** Sample ids the README shows → the ids the earlier commands printed. */
    const ids = new Map<string, string>();
    for (const step of steps) {
      let command = step.command
        .replaceAll("http://127.0.0.1:7071", `http://127.0.0.1:${ports.http}`)
        .replaceAll("http://127.0.0.1:10002/", `http://127.0.0.1:${ports.azurite}/`)
        .replaceAll(".keyrotor/", `${stateDir}/`)
        .replaceAll("./evidence", path.join(stateDir, "evidence"));
      for (const [sample, real] of ids) command = command.replaceAll(sample, real);
      const r = await bash(command, env);
      expect(r.code, `${command}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`).toBe(step.exit);
      if (step.command.startsWith("curl")) expect((JSON.parse(r.stdout) as { items: unknown[] }).items.length).toBeGreaterThan(0);
      if (step.exit === 1) expect(r.stderr).toMatch(new RegExp(/#\s*exit 1: (\w+)/.exec(step.command)![1]!));
      if (step.prints) {
        // "started: kek:demo-vault/tenant-kek@manual:2026…" shows the form; the id differs per run.
        const [label, sample] = [step.prints.slice(0, step.prints.indexOf(": ") + 2), step.prints.slice(step.prints.indexOf(": ") + 2)];
        const stem = sample.replace(/(\.\.\.|[0-9T]+-[0-9a-f]+)$/, "");
        const line = r.stdout.split("\n").find((l) => l.startsWith(label));
        expect(line, `${command} prints "${label}${stem}…": ${r.stdout}`).toBeDefined();
        const printedId = line!.slice(label.length).trim();
        expect(printedId.startsWith(stem)).toBe(true);
        ids.set(sample, printedId);
      }
      if (/approve .* --as bob:Approver/.test(step.command)) expect(r.stdout).toMatch(/^approved: .*\(running\)/m);
      // Step 7: the client connected as app_a; after the rotation both logins log in, and its one
      // session ran through the rotation without a break.
      if (step.command.includes("demo:db -- --background")) expect(r.stdout).toMatch(/^connected: session \d+ as app_a /m);
      if (step.command.includes("demo:db -- --versions")) {
        const lines = r.stdout.trim().split("\n");
        expect(lines, r.stdout).toHaveLength(2);
        expect(lines[0]).toMatch(/^orders-db \w+ enabled +login app_b: logs in$/);
        expect(lines[1]).toMatch(/^orders-db \w+ enabled +login app_a: logs in$/);
      }
      if (step.command.startsWith("cat ") && step.command.includes("db-client.log")) {
        const sessions = new Set([...r.stdout.matchAll(/session (\d+) as (\w+)/g)].map((m) => `${m[1]} ${m[2]}`));
        expect([...sessions], r.stdout).toHaveLength(1);
        expect([...sessions][0]).toMatch(/ app_a$/);
        expect(r.stdout).not.toMatch(/ended by the server/);
        expect(r.stdout.split("\n").filter((l) => /orders$/.test(l)).length).toBeGreaterThan(1);
      }
    }
    expect(readdirSync(path.join(stateDir, "evidence")).sort()).toEqual(["compliance.csv", "evidence.json", "manifest.json", "rotations.csv", "summary.md"]);
    expect(existsSync(path.join(ROOT, "evidence")), "nothing written into the checkout").toBe(false);
  }, 400_000);
});
