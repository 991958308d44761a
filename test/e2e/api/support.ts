// Runs the whole app (every functions/ file) as Azure Flex Consumption places it: three in-process
// hosts, one per instance group: HTTP (the API and the Event Grid webhook), durable (orchestrations,
// activities, entities) and timer. They share only what stands for storage and the world: the
// durable history store, the in-memory adapters (Table Storage, Key Vault, Service Bus) and the
// ManualClock the tests move (wall time). Each host gets its own composition of the app.
import { readdirSync } from "node:fs";
import path from "node:path";
import { ManualClock, MemoryHistoryStore, startHost, type DevHost, type StartHostOptions } from "../../../dev/host";
import { idleAcross } from "../../../dev/host/instances";
import { decodeRequestPath, routeHttp } from "../../../dev/host/triggers";
import { routeParams } from "../../../lib/api/routes";
import { answerMismatch, isRouteName } from "../../unit/http/openapiResponseSchemas";
import { memoryApiServices, type MemoryApi } from "../../../lib/api/services";
import { appHookDataFor } from "../../../dev/app/composition";
import { composeMemory } from "../../../lib/compose";
import type { ManagedKey } from "../../../lib/domain/keys";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import type { LedgerEntry } from "../../../lib/ports";
import { seedPolicy, testPolicy } from "../../unit/orchestration/fixtures";

const FUNCTIONS_DIR = path.resolve(__dirname, "../../../functions");
export const ALL_FUNCTIONS = readdirSync(FUNCTIONS_DIR).filter((f) => f.endsWith(".ts")).sort().map((f) => path.join(FUNCTIONS_DIR, f));
export const VAULT = "demo-vault";
export const T0 = "2026-03-01T00:00:00.000Z";

/** The fields of the API's JSON bodies the tests read (a body without them fails the assertion). */
export interface ApiJson {
  error: { code: string; message: string; field?: string; rotationId?: string };
  rotationId: string;
  status: string;
  runtimeStatus: string;
  rotations: Record<string, unknown>[];
  items: Record<string, unknown>[];
  ok: boolean;
  [k: string]: unknown;
}

export interface ApiHost {
  /** The three instances seen as one app: HTTP calls go to the HTTP instance, timers to the timer
   * instance, idle() waits for all three and for the work waiting in the store. */
  host: DevHost;
  http: DevHost;
  durable: DevHost;
  timer: DevHost;
  mem: MemoryApi;
  clock: ManualClock;
  /** `as`: [name, ...roles], a raw header value, or "none" for no principal. */
  call(method: string, path: string, opts?: { as?: [string, ...string[]] | string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: string; json(): ApiJson; headers: Record<string, string | string[]> }>;
  stop(): Promise<void>;
}

/** Every answer an app function gives is checked against the OpenAPI document (status listed, body
 * valid). Answers the host makes itself are not the app's: no route (404), the front end's cut (502). */
function undocumentedAnswer(method: string, p: string, status: number, body: string): string | undefined {
  const decoded = decodeRequestPath(new URL(p, "http://host").pathname);
  const routed = decoded === undefined ? undefined : routeHttp(method, decoded);
  if (!routed || status === 502) return undefined;
  const name = routed.fn.metadata.name;
  if (!isRouteName(name)) return `${method} ${p} was served by ${name}, which is not in the route table`;
  return answerMismatch(name, routeParams(routed.params), status, body);
}

/** The host with its invokeHttp checking every answer (the tests' own calls and call()'s). */
function checkedAgainstOpenApi(host: DevHost): DevHost {
  const invoke = host.invokeHttp.bind(host);
  host.invokeHttp = async (method, p, o) => {
    const r = await invoke(method, p, o);
    const problem = undocumentedAnswer(method, p, r.status, r.body);
    if (problem) throw new Error(`[e2e] the answer is not what the OpenAPI document says: ${problem}`);
    return r;
  };
  return host;
}

export const OPERATOR = ["olivia", ROLES.operator] as [string, ...string[]];
export const APPROVER = ["adam", ROLES.approver] as [string, ...string[]];
export const AUDITOR = ["audrey", ROLES.auditor] as [string, ...string[]];
export const ADMIN = ["ada", ROLES.admin] as [string, ...string[]];

/** `httpResponseTimeoutMs`: the front end's cut (Azure's 230 s by default, as in the host). */
export async function startApiHost(opts: { at?: string; vaults?: string[]; httpResponseTimeoutMs?: number } = {}): Promise<ApiHost> {
  const clock = new ManualClock(opts.at ?? T0);
  const mem = memoryApiServices({ clock: { now: () => clock.now() }, vaults: opts.vaults ?? [VAULT] });
  process.env.KEYROTOR_TIMER_SCHEDULE ??= "0 */15 * * * *";
  const store = new MemoryHistoryStore();
  const instance = (role: "http" | "durable" | "timer"): Promise<DevHost> => startHost({
    entry: ALL_FUNCTIONS,
    roles: [role],
    store,
    // Each instance composes the app itself, over the shared storage.
    appHookData: appHookDataFor(composeMemory(mem)),
    clock,
    // The real runtime polls its queues every few ms when busy, up to 30 s when idle; here the
    // ceiling is small so a test never waits on a poll.
    minPollingIntervalMs: 1,
    maxPollingIntervalMs: 10,
    ...(opts.httpResponseTimeoutMs !== undefined ? { httpResponseTimeoutMs: opts.httpResponseTimeoutMs } : {}),
    ...(process.env.KEYROTOR_TEST_LOG ? { log: (l: string) => console.error(`[${role}] ${l}`) } : {}),
  } satisfies StartHostOptions);
  const durable = await instance("durable");
  const timer = await instance("timer");
  const http = checkedAgainstOpenApi(await instance("http"));
  const instances = [http, durable, timer];
  const host: DevHost = {
    get url() {
      return http.url;
    },
    get durableWebhookKey() {
      return http.durableWebhookKey;
    },
    get eventGridWebhookKey() {
      return http.eventGridWebhookKey;
    },
    functions: http.functions,
    client: http.client,
    clock,
    store,
    roles: ["http", "durable", "timer"],
    fireTimer: (name, o) => timer.fireTimer(name, o),
    invokeHttp: (method, p, o) => http.invokeHttp(method, p, o),
    crash: () => durable.crash(),
    resume: (o) => durable.resume(o),
    idle: () => idleAcross(instances, store),
    historyEventCount: (id) => durable.historyEventCount(id),
    maxHistoryEventCount: (id) => durable.maxHistoryEventCount(id),
    activityExecutions: (name) => durable.activityExecutions(name),
    episodes: () => durable.episodes(),
    entityBatches: () => durable.entityBatches(),
    stop: async () => {
      for (const h of instances) await h.stop();
    },
  };
  return {
    host, http, durable, timer, mem, clock,
    call: async (method, p, o = {}) => {
      // Like the CLI: every state-changing request says application/json (the API answers 415 otherwise).
      const headers: Record<string, string> = { ...(method !== "GET" && !Object.keys(o.headers ?? {}).some((k) => k.toLowerCase() === "content-type") ? { "content-type": "application/json" } : {}), ...(o.headers ?? {}) };
      if (Array.isArray(o.as)) headers["x-ms-client-principal"] = encodePrincipal(o.as[0], o.as.slice(1));
      else if (typeof o.as === "string" && o.as !== "none") headers["x-ms-client-principal"] = o.as;
      const r = await host.invokeHttp(method, p, { headers, ...(o.body !== undefined ? { body: o.body } : {}) });
      return { ...r, json: () => r.json() as ApiJson };
    },
    stop: async () => {
      await host.stop();
    },
  };
}

/**
 * Fires the policy timer (on the timer instance) and waits for what that firing started to finish on
 * the durable instance. The durable instance picks up what a timer starts by polling the store, so a
 * second firing right after the first would see the key before, during or after the first firing's
 * work (a due rotation holds the key's lock) depending on polling timing: a test that fires more than
 * once settles each firing, so every firing sees the one before it done.
 */
export async function fireTimerAndSettle(api: Pick<ApiHost, "host">, opts: { isPastDue?: boolean } = {}): Promise<void> {
  await api.host.fireTimer("policyTimer", opts);
  await api.host.idle();
}

/** A managed KEK (or signing key) with one version in the memory vault and the inventory, governed
 * by `extra.policyId` or else by the platform's default policy. */
export async function seedKey(mem: MemoryApi, kind: "kek" | "signing", name: string, extra: Partial<ManagedKey> = {}, expiresAt?: string): Promise<{ keyId: string; v1: string }> {
  const v1 = mem.rotation.vault.seedKey(VAULT, name, kind === "kek" ? "wrap" : "sign");
  const keyId = `${kind}:${VAULT}/${name}`;
  // A key no policy governs cannot rotate (NoPolicy): without a named policy, the platform's default.
  const policyId = extra.policyId ?? await seedPolicy(mem.rotation, testPolicy("platform", "platform-default", ["kek", "signing", "secret"]));
  await mem.rotation.inventory.put({
    keyId, kind, tenant: "platform", policyId, primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0, ...(expiresAt ? { expiresAt } : {}) }], ...extra,
  }, undefined);
  return { keyId, v1 };
}

export async function chain(mem: MemoryApi, keyId: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const e of mem.services.ledger.entries(keyId)) out.push(e);
  return out;
}

/** Everything that must not change when a request is refused: every ledger chain of a managed key,
 * the inventory, the vault's versions and the approvals. */
export async function snapshot(mem: MemoryApi): Promise<string> {
  const chains: Record<string, string[]> = {};
  for await (const k of mem.services.ledger.chainIds()) {
    if (k.startsWith("system:")) continue;
    chains[k] = (await chain(mem, k)).map((e) => e.hash);
  }
  const inventory = [...mem.rotation.inventory.rows.entries()].map(([k, v]) => [k, v.etag]);
  const vault = [...mem.rotation.vault.keys.entries()].map(([k, vs]) => [k, vs.map((v) => `${v.version}:${v.enabled}`)]);
  const secrets = [...mem.rotation.vault.secrets.entries()].map(([k, vs]) => [k, vs.map((v) => `${v.version}:${v.enabled}`)]);
  const approvals = [...mem.approvals.rows.entries()].map(([k, v]) => [k, v.etag]);
  return JSON.stringify({ chains, inventory, vault, secrets, approvals, policies: [...mem.policies.rows.values()].map((p) => p.etag) });
}
