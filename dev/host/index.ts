// The in-process Functions host: loads the app the way the worker does, serves its HTTP, Event
// Grid, timer and durable functions, and exposes a client and test controls. See README.md.
import "./functionsCore";
import { readdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";
import type { Cron } from "croner";
import { ManualClock, RealClock, type HostClock } from "./clock";
import { functionTimeoutFromHostJson, HTTP_RESPONSE_TIMEOUT_MS, setHostLimits } from "./limits";
import { timeZoneNotice, timerJob } from "./schedule";
import { visibilityTimeoutFromHostJson } from "./visibility";
import { durableClientInputData, handleDurableApi, RPC_PATH, WEBHOOK_PATH } from "./durableApi";
import { newSystemKey, systemKeyGiven, systemKeyRefused } from "./systemKeys";
import { DurableEngine, DurableApiError, type EpisodeRecord, type InstanceStatus } from "./engine";
import { coreRegistry, type RegisteredFunction } from "./functionsCore";
import { MemoryHistoryStore, type HistoryStore } from "./store";
import { decodeRequestPath, extraInputData, fireTimerFunction, functionsByTrigger, invokeHttpFunction, invokeTrigger, type HttpInput, type HttpResult, type TriggerContext } from "./triggers";
import { EVENT_GRID_ROUTE_VERBS, handleEventGrid } from "./eventGridWebhook";
import { triggerOf } from "./worker";

export { ManualClock, RealClock, type HostClock } from "./clock";
export { MemoryHistoryStore, type HistoryStore, type InstanceRow, type RuntimeStatus } from "./store";
export { TableHistoryStore } from "./tableStore";
export type { EpisodeRecord, InstanceStatus } from "./engine";

export interface StartHostOptions {
  /** Absolute paths of the app's modules (e.g. every functions/*.ts file), imported in order. */
  entry: string[];
  /** Where history lives: memory (default) or a store such as `new TableHistoryStore(tableClient)`. */
  store?: "memory" | HistoryStore;
  /** "real" (default) or a ManualClock that tests advance. */
  clock?: "real" | ManualClock;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Like maxConcurrentActivityFunctions (default 16). */
  maxConcurrentActivities?: number;
  /** Host and app log lines (default: dropped). */
  log?: (line: string) => void;
  /** Run timer functions on their NCRONTAB schedules (default: true with the real clock). */
  runSchedules?: boolean;
  /** functionTimeout in ms (undefined in the object = unbounded); default: host.json's
   * `functionTimeout` in `appDir`, else Flex Consumption's 30 minutes. */
  functionTimeoutMs?: number | undefined;
  /** When an HTTP caller gets a 502 instead of the answer; default 230 s, as in Azure. */
  httpResponseTimeoutMs?: number;
  /** Where host.json is read (default: the working directory). */
  appDir?: string;
  /** What this instance runs, as Flex Consumption places functions on instances (default: all).
   * Without "durable" it runs no orchestration, activity or entity: its durable client writes to
   * the store and reads from it, and a durable instance on the same store picks the work up.
   * Without "http" it serves no /api routes and no Event Grid webhook; without "timer" no timer
   * function runs (schedules, fireTimer, /admin). The durable management API is served by all. */
  roles?: InstanceRole[];
  /** Polling of the store by a durable instance (as DurableTask.AzureStorage polls its queues):
   * the interval after a poll that found work (default 100 ms), doubling up to the maximum
   * (default 30 s, maxQueuePollingInterval). Wall-clock time, whatever the clock option. */
  minPollingIntervalMs?: number;
  maxPollingIntervalMs?: number;
  /** Lease on an instance or entity held by the durable instance that runs it (default 30 s). */
  leaseMs?: number;
  /** How long resume() after crash() holds the work taken before the crash (the queues' visibility
   * timeout). Default: host.json's extensions.durableTask.storageProvider control/work-item queue
   * visibility timeouts in `appDir` (the longer one), else 5 minutes (dev/host/visibility.ts). */
  visibilityTimeoutMs?: number;
  /** Unowned targets (instances, entities) one poll takes at most (default 32). */
  pollBatchSize?: number;
  /** The hook data appStart and appTerminate receive as `hookData` (the worker's app-level-only hook
   * data: what a host hands the app at start; functions/_app.ts reads its composition there). Each
   * host also keeps its own app hook data, which all its hooks receive as `appHookData`. Default:
   * empty, as in Azure. */
  appHookData?: Record<string, unknown>;
  /** This host's `eventgrid_extension` system key (default: a new one). Given when a caller must know
   * the webhook URL before the host starts (npm start hands it to the Key Vault peer). */
  eventGridWebhookKey?: string;
}

export type InstanceRole = "http" | "durable" | "timer";
export const ALL_ROLES: readonly InstanceRole[] = ["http", "durable", "timer"];

export interface FunctionInfo {
  name: string;
  trigger: string;
  route?: string;
  methods?: string[];
  schedule?: string;
}

export interface HostClient {
  startNew(orchestrator: string, opts?: { instanceId?: string; input?: unknown }): Promise<string>;
  getStatus(instanceId: string, opts?: { showHistory?: boolean }): Promise<InstanceStatus | undefined>;
  /** Resolves with the final status; rejects after timeoutMs (default 30 s). */
  waitForCompletion(instanceId: string, opts?: { timeoutMs?: number }): Promise<InstanceStatus>;
  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  terminate(instanceId: string, reason?: string): Promise<void>;
  purge(instanceId: string): Promise<number>;
  signalEntity(entity: { name: string; key: string }, operation: string, input?: unknown): Promise<void>;
  readEntity<T = unknown>(entity: { name: string; key: string }): Promise<{ exists: boolean; state: T | undefined }>;
}

export interface DevHost {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** This host's `durabletask_extension` system key: /runtime/webhooks/durabletask asks for it as
   * `code` (or `x-functions-key`), as the Functions host does; `code=<key>` is what the app's
   * durable client binding carries in requiredQueryStringParameters and its management links. */
  readonly durableWebhookKey: string;
  /** This host's `eventgrid_extension` system key: /runtime/webhooks/eventgrid asks for it as `code`
   * (or `x-functions-key`), as the Functions host does; without it an empty 401 (dev/host/systemKeys.ts). */
  readonly eventGridWebhookKey: string;
  readonly functions: FunctionInfo[];
  readonly client: HostClient;
  readonly clock: HostClock;
  readonly store: HistoryStore;
  /** Runs a timer function now (as if its schedule fired). */
  fireTimer(name: string, opts?: { isPastDue?: boolean }): Promise<void>;
  /** Sends a request through the host's router without a socket. */
  invokeHttp(method: string, path: string, opts?: { headers?: Record<string, string>; body?: unknown }): Promise<{ status: number; headers: Record<string, string | string[]>; body: string; json(): unknown }>;
  /** Drops all in-memory work (in-flight activities are abandoned); the store keeps what was committed. */
  crash(): Promise<void>;
  /** Resumes every unfinished orchestration and entity from the store. After crash() the work taken
   * before the crash waits for the visibility timeout (`visibilityTimeoutMs`, default the host's
   * option), as on the real runtime; pass `{ visibilityTimeoutMs: 0 }` to resume at once. */
  resume(opts?: { visibilityTimeoutMs?: number }): Promise<void>;
  /** Resolves when nothing is running (pending durable timers do not count). */
  idle(): Promise<void>;
  /** History events of the instance's current execution. */
  historyEventCount(instanceId: string): number;
  /** Largest history any execution of the instance reached (continueAsNew resets the current one). */
  maxHistoryEventCount(instanceId: string): number;
  /** Activity executions started in this host, by activity name (at-least-once shows up here). */
  activityExecutions(name: string): number;
  /** What this instance runs. */
  readonly roles: readonly InstanceRole[];
  /** Orchestrator episodes this host ran (instance, execution, committed history length at its start). */
  episodes(): readonly EpisodeRecord[];
  /** Entity operation batches this host ran. */
  entityBatches(): number;
  stop(): Promise<void>;
}

/** The app's function modules in a folder (e.g. functions/): *.ts and *.js files, tests excluded, sorted. */
export function functionFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !/\.(test|spec|d)\.(ts|js)$/.test(f))
    .sort()
    .map((f) => path.resolve(dir, f));
}

function describe(fn: RegisteredFunction): FunctionInfo {
  const t = triggerOf(fn);
  return {
    name: fn.metadata.name,
    trigger: t.type,
    ...(typeof t.route === "string" ? { route: t.route } : {}),
    ...(Array.isArray(t.methods) ? { methods: t.methods as string[] } : {}),
    ...(typeof t.schedule === "string" ? { schedule: t.schedule } : {}),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** `%NAME%` app-setting references, as the Functions host resolves them in binding properties. */
function resolveSetting(value: string): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const v = process.env[name];
    if (v === undefined) throw new Error(`[keyrotor] [devhost] app setting ${name} (referenced as %${name}%) is not set`);
    return v;
  });
}

export async function startHost(options: StartHostOptions): Promise<DevHost> {
  const log = options.log ?? (() => {});
  setHostLimits({
    functionTimeoutMs: "functionTimeoutMs" in options ? options.functionTimeoutMs : functionTimeoutFromHostJson(options.appDir ?? process.cwd()),
    httpResponseTimeoutMs: options.httpResponseTimeoutMs ?? HTTP_RESPONSE_TIMEOUT_MS,
  });
  const reg = coreRegistry();
  reg.systemLog = (level, category, message) => {
    if (level === "error" || level === "warning" || level === "critical") log(`[${category}] ${level}: ${message}`);
  };
  for (const entry of options.entry) await import(entry);
  if (!reg.model || reg.functions.size === 0) {
    throw new Error(
      "[keyrotor] [devhost] the app registered no functions: import dev/host before anything that imports @azure/functions, or check the entry paths",
    );
  }
  const clock: HostClock = options.clock && options.clock !== "real" ? options.clock : new RealClock();
  const store: HistoryStore = options.store && options.store !== "memory" ? options.store : new MemoryHistoryStore();
  let baseUrl = "http://127.0.0.1:0";
  const systemKey = newSystemKey();
  const eventGridKey = options.eventGridWebhookKey ?? newSystemKey();
  // The worker's two hook-data objects (its AppContext): app-level-only data, which appStart and
  // appTerminate see as `hookData` (options.appHookData seeds it), and the app hook data every hook
  // sees as `appHookData`, invocation hooks included. Per host: two hosts are two workers.
  const appLevelOnlyHookData = options.appHookData ?? {};
  const appHookData: Record<string, unknown> = {};
  const ctx: TriggerContext = {
    baseUrl: () => baseUrl,
    appHookData,
    durableClientData: () => durableClientInputData(baseUrl, systemKey),
    log,
    userLog: (fn, _id, level, message) => log(`[${fn}] ${level}: ${message}`),
  };
  const roles: readonly InstanceRole[] = options.roles ? [...new Set(options.roles)] : ALL_ROLES;
  const has = (role: InstanceRole): boolean => roles.includes(role);
  const engine = new DurableEngine({
    store,
    clock,
    maxConcurrentActivities: options.maxConcurrentActivities ?? 16,
    log,
    userLog: ctx.userLog,
    appHookData,
    activityInputs: (fn) => extraInputData(fn, ctx),
    durable: has("durable"),
    ...(options.minPollingIntervalMs !== undefined ? { minPollingIntervalMs: options.minPollingIntervalMs } : {}),
    ...(options.maxPollingIntervalMs !== undefined ? { maxPollingIntervalMs: options.maxPollingIntervalMs } : {}),
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? visibilityTimeoutFromHostJson(options.appDir ?? process.cwd()),
    ...(options.pollBatchSize !== undefined ? { pollBatchSize: options.pollBatchSize } : {}),
  });
  /** Which role runs a trigger type (Event Grid arrives as an HTTP webhook; every other non-durable trigger with the timers). */
  const servedHere = (type: string): boolean => {
    const t = type.toLowerCase();
    if (t === "httptrigger" || t === "eventgridtrigger") return has("http");
    if (t === "orchestrationtrigger" || t === "activitytrigger" || t === "entitytrigger") return has("durable");
    return has("timer");
  };

  const route = async (req: HttpInput): Promise<HttpResult> => {
    const pathname = new URL(req.url, baseUrl).pathname;
    if (pathname === WEBHOOK_PATH || pathname.startsWith(`${WEBHOOK_PATH}/`) || pathname.startsWith(`${RPC_PATH}/`)) return handleDurableApi(req, engine, baseUrl, systemKey);
    if (pathname.toLowerCase() === "/runtime/webhooks/eventgrid" && has("http")) {
      // The host authorizes before the extension runs; a verb its route does not take never gets that far.
      if (EVENT_GRID_ROUTE_VERBS.has(req.method.toUpperCase()) && !systemKeyGiven(req, new URL(req.url, baseUrl), eventGridKey)) return systemKeyRefused();
      return handleEventGrid(req, ctx);
    }
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(pathname);
    if (admin && req.method.toUpperCase() === "POST") return adminInvoke(decodeRequestPath(admin[1]!) ?? "", req);
    // Azure decodes the path before it routes (triggers.ts): /api%2Fhealth is /api/health there.
    if (has("http") && /^\/api(\/|$)/i.test(decodeRequestPath(pathname) ?? pathname)) return invokeHttpFunction(req, ctx);
    return { status: 404, headers: {}, body: Buffer.alloc(0) };
  };

  // POST /admin/functions/<name> {"input": ...}: how the Functions host runs a non-HTTP function by hand.
  const adminInvoke = async (name: string, req: HttpInput): Promise<HttpResult> => {
    const fn = reg.functions.get(name);
    if (!fn || !servedHere(triggerOf(fn).type)) return { status: 404, headers: {}, body: Buffer.alloc(0) };
    const type = triggerOf(fn).type;
    try {
      if (type === "timerTrigger") await fireTimerFunction(fn, false, ctx);
      else {
        const body = req.body.length ? (JSON.parse(req.body.toString("utf8")) as { input?: unknown }) : {};
        await invokeTrigger(fn, body.input === undefined ? null : { json: JSON.stringify(body.input) }, ctx);
      }
      return { status: 202, headers: {}, body: Buffer.alloc(0) };
    } catch (err) {
      log(`[keyrotor] [devhost] admin invocation of '${name}' failed: ${err instanceof Error ? err.message : String(err)}`);
      return { status: 500, headers: {}, body: Buffer.alloc(0) };
    }
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const result = await route({ method: req.method ?? "GET", url: req.url ?? "/", headers: headersOf(req), body: await readBody(req) });
        res.writeHead(result.status, result.headers);
        res.end(result.body);
      } catch (err) {
        log(`[keyrotor] [devhost] request ${req.method} ${req.url} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    })();
  });
  // Idle keep-alive connections stay open as long as Kestrel keeps them (KeepAliveTimeout 130 s), not
  // Node's 5 s: the app's durable client (axios, keep-alive agent) reuses its sockets, and a server
  // closing one just as the client writes on it answers ECONNRESET, which the app reports as a 500.
  server.keepAliveTimeout = 130_000;
  server.headersTimeout = 131_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  baseUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;

  for (const hook of reg.hooks.get("appStart") ?? []) await hook({ hookData: appLevelOnlyHookData, appHookData, functionAppDirectory: process.cwd() });
  // A durable instance polls the store for work other instances wrote (no-op without the role).
  engine.startBackground();

  const crons: Cron[] = [];
  const runSchedules = has("timer") && (options.runSchedules ?? (options.clock === undefined || options.clock === "real"));
  if (runSchedules) {
    const notice = timeZoneNotice();
    if (notice && functionsByTrigger("timerTrigger").length > 0) log(notice);
    for (const fn of functionsByTrigger("timerTrigger")) {
      const t = triggerOf(fn);
      const schedule = resolveSetting(typeof t.schedule === "string" ? t.schedule : "");
      const name = fn.metadata.name;
      const job: Cron = timerJob(schedule, async () => {
        try {
          await fireTimerFunction(fn, false, ctx, new Date(), job.nextRun() ?? undefined);
        } catch (err) {
          log(`[keyrotor] [devhost] timer function '${name}' failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
      crons.push(job);
      if (t.runOnStartup === true) void job.trigger();
    }
  }

  const toStatus = async (id: string): Promise<InstanceStatus> => {
    const s = await engine.getStatus(id);
    if (!s) throw new Error(`[keyrotor] [devhost] no instance '${id}'`);
    return s;
  };

  const client: HostClient = {
    startNew: (name, opts = {}) => engine.startNew(name, opts.instanceId, DurableEngine.json(opts.input)),
    getStatus: (id, opts = {}) => engine.getStatus(id, opts),
    waitForCompletion: async (id, opts = {}) => {
      await engine.waitForTerminal(id, opts.timeoutMs ?? 30_000);
      return toStatus(id);
    },
    raiseEvent: (id, name, data) => engine.raiseEvent(id, name, DurableEngine.json(data)),
    terminate: (id, reason) => engine.terminate(id, reason ?? null),
    purge: (id) => engine.purge(id),
    signalEntity: (e, op, input) => engine.signalEntity(e.name, e.key, op, DurableEngine.json(input)),
    readEntity: async <T>(e: { name: string; key: string }) => {
      const r = await engine.readEntity(e.name, e.key);
      return { exists: r.exists, state: r.state as T | undefined };
    },
  };

  let stopped = false;
  const host: DevHost = {
    get url() {
      return baseUrl;
    },
    durableWebhookKey: systemKey,
    eventGridWebhookKey: eventGridKey,
    functions: [...reg.functions.values()].map(describe),
    client,
    clock,
    store,
    fireTimer: async (name, opts = {}) => {
      const fn = reg.functions.get(name);
      if (!fn || triggerOf(fn).type !== "timerTrigger") throw new Error(`[keyrotor] [devhost] no timer function '${name}'`);
      if (!has("timer")) throw new Error(`[keyrotor] [devhost] this instance has no timer role (roles: ${roles.join(", ")}): fire '${name}' on the timer instance`);
      await fireTimerFunction(fn, opts.isPastDue ?? false, ctx);
    },
    invokeHttp: async (method, path, opts = {}) => {
      const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body));
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
      if (opts.body !== undefined && typeof opts.body !== "string" && !Buffer.isBuffer(opts.body)) headers["content-type"] ??= "application/json";
      const r = await route({ method, url: path, headers, body });
      const text = r.body.toString("utf8");
      return { status: r.status, headers: r.headers, body: text, json: () => JSON.parse(text) as unknown };
    },
    crash: () => engine.crash(),
    resume: (opts) => engine.resume(opts),
    idle: () => engine.idle(),
    historyEventCount: (id) => engine.historyEventCount(id),
    maxHistoryEventCount: (id) => engine.maxHistoryEventCount(id),
    activityExecutions: (name) => engine.activityExecutions.get(name) ?? 0,
    roles,
    episodes: () => engine.episodes,
    entityBatches: () => engine.entityBatches,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const c of crons) c.stop();
      for (const hook of reg.hooks.get("appTerminate") ?? []) await hook({ hookData: appLevelOnlyHookData, appHookData });
      await engine.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return host;
}

export { DurableApiError };
