// Starts the real-Durable-runtime harness (dotnet .tools/durable-runtime/DurableRuntime.dll) for an
// app loaded in this process: Azurite (blob+queue+table), the Node bridge, then the .NET host,
// which prints the durable client JSON the extension gives a JavaScript app when it is ready.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { startAzuriteAll, type AzuriteAll } from "./azurite";
import { startBridge, type Bridge } from "./bridge";
import { fireTimerFunction, invokeHttpFunction, type TriggerContext } from "../../host/triggers";
import { findFunction } from "../../host/worker";
import { coreRegistry } from "../../host/functionsCore";

export const HARNESS_DLL = path.resolve(__dirname, "../../../.tools/durable-runtime/DurableRuntime.dll");

/** Why the real runtime cannot run here, or undefined when it can. */
export function realRuntimeUnavailable(): string | undefined {
  const dotnet = spawnSync("dotnet", ["--version"], { encoding: "utf8", timeout: 20_000 });
  if (dotnet.error || dotnet.status !== 0) return "dotnet is not on PATH";
  if (!existsSync(HARNESS_DLL)) return `${HARNESS_DLL} is not built (run dev/tools/build-durable-runtime.sh)`;
  return undefined;
}

/** What `[DurableClient] string` holds (BindingHelper.DurableOrchestrationClientToString). */
export interface ClientJson {
  taskHubName: string;
  rpcBaseUrl?: string;
  creationUrls: Record<string, string>;
  managementUrls: Record<string, string>;
  baseUrl: string;
  requiredQueryStringParameters: string;
}

export interface RealRuntime {
  readonly client: ClientJson;
  readonly bridge: Bridge;
  readonly azurite: AzuriteAll;
  /** Everything the .NET process wrote, for failure messages. */
  output(): string;
  /**
   * Calls one of the app's HTTP functions loaded in this process (functions/*.ts among the entries),
   * routed as dev/host routes /api, with the durableClient input binding holding the JSON the real
   * extension gives a JavaScript app: the API's starts, reads and lock calls reach the real runtime.
   * The Functions host's HTTP front end itself is not hosted here (README).
   */
  invokeHttp(method: string, path: string, opts?: { headers?: Record<string, string>; body?: unknown }): Promise<HttpAnswer>;
  /** Runs one of the app's timer functions once (as the Functions host fires it), with the real
   * extension's durable client binding. */
  fireTimer(name: string, opts?: { isPastDue?: boolean }): Promise<void>;
  /** SIGKILLs the .NET host process (no clean stop: leases, queue messages and history stay as the
   * crash left them in Azurite); the bridge, Azurite and whatever the app is running in Node stay. */
  crash(): Promise<void>;
  /** Starts a new .NET host on the same Azurite, task hub and bridge (stopping a running one first);
   * `client` then holds the new host's client JSON. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
  json(): unknown;
}

/** How the app's non-durable triggers are invoked here: dev/host's trigger plumbing, with the
 * durableClient input binding holding the real extension's client JSON. */
function triggerContext(client: () => ClientJson, log: (line: string) => void, appHookData: Record<string, unknown>): TriggerContext {
  return { baseUrl: () => "http://127.0.0.1:7071", userLog: () => undefined, appHookData, log, durableClientData: () => ({ ...client() }) };
}

function httpCaller(ctx: TriggerContext): RealRuntime["invokeHttp"] {
  return async (method, p, opts = {}) => {
    const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body));
    const r = await invokeHttpFunction({ method, url: p, headers: opts.headers ?? {}, body }, ctx);
    const text = r.body.toString("utf8");
    return { status: r.status, headers: r.headers, body: text, json: () => JSON.parse(text) as unknown };
  };
}

function timerFirer(ctx: TriggerContext): RealRuntime["fireTimer"] {
  return async (name, opts = {}) => {
    const fn = findFunction(name);
    if (!fn) throw new Error(`[keyrotor] [durable-runtime] the app registered no function named ${name}`);
    await fireTimerFunction(fn, opts.isPastDue ?? false, ctx);
  };
}

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

function exited(child: ChildProcess): Promise<void> {
  return running(child) ? new Promise<void>((resolve) => child.once("exit", () => resolve())) : Promise.resolve();
}

/** One .NET host process on the given Azurite and bridge, resolved once it printed its client JSON. */
async function launch(env: NodeJS.ProcessEnv, timeoutMs: number, log: (text: string) => void): Promise<{ child: ChildProcess; client: ClientJson }> {
  const child: ChildProcess = spawn("dotnet", [HARNESS_DLL], { stdio: ["pipe", "pipe", "pipe"], env });
  let mine = "";
  try {
    const client = await new Promise<ClientJson>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`[keyrotor] [durable-runtime] harness not ready after ${timeoutMs} ms:\n${mine}`)), timeoutMs);
      let ready = false;
      const onData = (d: Buffer): void => {
        log(d.toString());
        if (ready) return;
        // The extension logs every lease renewal: keep only the tail for failure messages.
        mine = (mine + d.toString()).slice(-200_000);
        const m = /^KEYROTOR_READY (.*)\r?\n/m.exec(mine);
        if (m?.[1]) {
          ready = true;
          clearTimeout(timer);
          resolve(JSON.parse(m[1]) as ClientJson);
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`[keyrotor] [durable-runtime] harness exited with ${code}:\n${mine}`)); });
    });
    return { child, client };
  } catch (err) {
    child.kill("SIGKILL");
    await exited(child);
    throw err;
  }
}

/** Runs the app's appStart or appTerminate hooks, as the Functions host does once the worker has
 * loaded the app and when it stops (the app builds its composition at appStart). */
async function appHooks(name: "appStart" | "appTerminate", hookData: Record<string, unknown>, appHookData: Record<string, unknown>): Promise<void> {
  for (const hook of coreRegistry().hooks.get(name) ?? []) await hook(name === "appStart" ? { hookData, appHookData, functionAppDirectory: process.cwd() } : { hookData, appHookData });
}

export async function startRealRuntime(opts: {
  entries: string[]; taskHub?: string; timeoutMs?: number; env?: Record<string, string>;
  /** The hook data the app's appStart hooks receive (the tests hand the app its composition there). */
  appHookData?: Record<string, unknown>;
}): Promise<RealRuntime> {
  const azurite = await startAzuriteAll();
  // The worker's app-level-only hook data (appStart's `hookData`, seeded by opts.appHookData) and its
  // app hook data, which every hook, invocation hooks included, receives as `appHookData`.
  const hookData = opts.appHookData ?? {};
  const appHookData: Record<string, unknown> = {};
  const bridge = await startBridge(opts.entries, appHookData);
  await appHooks("appStart", hookData, appHookData);
  let log = "";
  const append = (text: string): void => {
    log = (log + text).slice(-200_000);
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    AzureWebJobsStorage: azurite.connectionString,
    KEYROTOR_BRIDGE_URL: bridge.url,
    KEYROTOR_FUNCTIONS: JSON.stringify(bridge.functions),
    KEYROTOR_TASK_HUB: opts.taskHub ?? "keyrotorreal",
    DOTNET_NOLOGO: "1",
  };
  const timeoutMs = opts.timeoutMs ?? 120_000; // a .NET start on a machine busy with the whole suite
  let current: { child: ChildProcess; client: ClientJson } | undefined;
  const stopHost = async (): Promise<void> => {
    const child = current?.child;
    if (!child || !running(child)) return;
    const gone = exited(child);
    child.stdin?.end();
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(kill);
  };
  const stop = async (): Promise<void> => {
    await stopHost();
    await bridge.close();
    await appHooks("appTerminate", hookData, appHookData);
    await azurite.stop();
  };
  try {
    current = await launch(env, timeoutMs, append);
  } catch (err) {
    await stop();
    throw err;
  }
  const client = (): ClientJson => current!.client;
  const ctx = triggerContext(client, (line) => append(`${line}\n`), appHookData);
  return {
    get client() {
      return client();
    },
    bridge, azurite, output: () => log, invokeHttp: httpCaller(ctx), fireTimer: timerFirer(ctx), stop,
    crash: async () => {
      const child = current!.child;
      append("\n[keyrotor] [durable-runtime] SIGKILL of the harness process\n");
      const gone = exited(child);
      child.kill("SIGKILL");
      await gone;
    },
    restart: async () => {
      await stopHost();
      append("\n[keyrotor] [durable-runtime] harness restarted on the same Azurite state\n");
      current = await launch(env, timeoutMs, append);
    },
  };
}
