// `npm start` as the start tests run it: a child in its own process group (as a shell job: SIGINT to
// -pid is Ctrl-C), every port a free one, state in the test's directory, no real service settings
// leaking in from the test environment (the stand-ins must start). And the one way a test stops it
// when a step failed: the whole group, waited for until nothing of it is left, so no stand-in
// outlives the test and a following start gets its ports.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");

export interface StartedApp {
  child: ChildProcess;
  output: () => string;
  /** "close": npm has exited AND every process holding its output (the app) has let go of it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export type StartPorts = Record<"http" | "azurite" | "keyVault" | "serviceBus", number>;

/** Whether any process of the group `pid` leads is still there. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Spawns `npm start --silent` on `ports` with state in `stateDir`; `env` adds to (or blanks more of) its environment. */
export function spawnNpmStart(ports: StartPorts, stateDir: string, env: NodeJS.ProcessEnv = {}): StartedApp {
  let out = "";
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(ports.http),
      KEYROTOR_AZURITE_PORT: String(ports.azurite),
      KEYROTOR_KEYVAULT_PEER_PORT: String(ports.keyVault),
      KEYROTOR_SERVICEBUS_PEER_PORT: String(ports.serviceBus),
      KEYROTOR_STATE_DIR: stateDir,
      KEYROTOR_TABLES_URL: "", KEYROTOR_TABLES_CONNECTION: "", KEYROTOR_VAULT_URLS: "",
      KEYROTOR_SERVICEBUS_NAMESPACE: "", KEYROTOR_SERVICEBUS_CONNECTION: "",
      ...env,
    },
  });
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

/** How long a start may take to print "keyrotor ready": it seeds 1,000 DEKs, which takes seconds on
 * a quiet machine and over a minute on the shared 2-core one. */
export const READY_TIMEOUT_MS = 150_000;

/** Waits for the banner's "keyrotor ready"; fails at once if npm exits first, naming its output. */
export async function untilReady(app: StartedApp, timeoutMs = READY_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!app.output().includes("keyrotor ready")) {
    if (app.child.exitCode !== null) throw new Error(`npm start exited:\n${app.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready:\n${app.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return app.output();
}

const KILL_AFTER_MS = 15_000;
const GIVE_UP_AFTER_MS = 30_000;

/**
 * Stops what a test started and left running (a failed step): Ctrl-C to the whole group, SIGKILL to
 * the group if anything of it is still there after 15 s, then waits for npm to close AND for the
 * group to be empty (a stand-in that let go of npm's pipes must not outlive it). Nothing to do for
 * an app already gone or never started.
 */
export async function stopStartedApp(app: StartedApp | undefined): Promise<void> {
  const pid = app?.child.pid;
  if (!app || pid === undefined || !groupAlive(pid)) return;
  process.kill(-pid, "SIGINT");
  const kill = setTimeout(() => groupAlive(pid) && process.kill(-pid, "SIGKILL"), KILL_AFTER_MS);
  try {
    await app.exited;
    const deadline = Date.now() + GIVE_UP_AFTER_MS;
    while (groupAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`[e2e] process group ${pid} of npm start is still alive ${GIVE_UP_AFTER_MS} ms after Ctrl-C`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    clearTimeout(kill);
  }
}
