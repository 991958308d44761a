// Trigger plumbing shared by the HTTP server and the in-process API: builds the binding data the
// Functions host would send for HTTP, timer and Event Grid triggers (plus the durable client input
// binding), and converts HTTP responses back.
import { durableClientInputData } from "./durableApi";
import type { RegisteredFunction, RpcHttpData, RpcParameterBinding, RpcTypedData } from "./functionsCore";
import { coreRegistry } from "./functionsCore";
import { hostLimits, within } from "./limits";
import { invoke, triggerOf, type UserLog } from "./worker";

export interface HttpInput {
  method: string;
  /** Path and query, e.g. /api/rotations?x=1 */
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface TriggerContext {
  baseUrl: () => string;
  userLog: UserLog;
  /** The worker's app hook data every invocation's hooks receive (worker.ts invoke). */
  appHookData: Record<string, unknown>;
  log: (line: string) => void;
  /** The JSON for a durableClient input binding; default: this host's own durable endpoint (the
   * real-runtime harness, dev/durable-runtime, hands the real extension's client JSON instead). */
  durableClientData?: () => Record<string, unknown>;
}

const warnedInputs = new Set<string>();

/** The extra input bindings the host fills: the durable client. Others are not supported (logged).
 * Activities get them too (the engine asks through EngineOptions.activityInputs), as in Azure. */
export function extraInputData(fn: RegisteredFunction, ctx: TriggerContext): RpcParameterBinding[] {
  const out: RpcParameterBinding[] = [];
  for (const [name, b] of Object.entries(fn.metadata.bindings)) {
    if (b.direction !== "in" || (typeof b.type === "string" && /trigger$/i.test(b.type))) continue;
    if (b.type === "durableClient" || b.type === "orchestrationClient") {
      out.push({ name, data: { string: JSON.stringify(ctx.durableClientData?.() ?? durableClientInputData(ctx.baseUrl())) } });
    } else if (!warnedInputs.has(`${fn.metadata.name}/${name}`)) {
      warnedInputs.add(`${fn.metadata.name}/${name}`);
      ctx.log(`[keyrotor] [devhost] input binding '${name}' (${String(b.type)}) of '${fn.metadata.name}' is not supported by the dev host; it receives undefined`);
    }
  }
  return out;
}

export async function invokeTrigger(fn: RegisteredFunction, data: RpcTypedData | null, ctx: TriggerContext, triggerMetadata?: Record<string, RpcTypedData>) {
  const trigger = triggerOf(fn);
  return invoke(fn, { inputData: [{ name: trigger.name, data }, ...extraInputData(fn, ctx)], ...(triggerMetadata ? { triggerMetadata } : {}) }, ctx.userLog, ctx.appHookData);
}

export function functionsByTrigger(type: string): RegisteredFunction[] {
  return [...coreRegistry().functions.values()].filter((f) => triggerOf(f).type.toLowerCase() === type.toLowerCase());
}

// ---- HTTP functions ---------------------------------------------------------------------------

interface RouteSegment {
  literal?: string;
  param?: string;
  optional?: boolean;
  catchAll?: boolean;
}

function parseRoute(route: string): RouteSegment[] {
  return route
    .split("/")
    .filter((s) => s.length > 0)
    .map((s) => {
      const m = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(s);
      if (!m) return { literal: s.toLowerCase() };
      return { param: m[2]!, optional: m[3] === "?", catchAll: m[1] === "*" };
    });
}

function matchRoute(segments: RouteSegment[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let i = 0;
  for (const seg of segments) {
    if (seg.catchAll) {
      params[seg.param!] = parts.slice(i).join("/");
      return params;
    }
    const part = parts[i];
    if (part === undefined) {
      if (seg.optional) continue;
      return undefined;
    }
    if (seg.literal !== undefined) {
      if (part.toLowerCase() !== seg.literal) return undefined;
    } else {
      params[seg.param!] = part;
    }
    i += 1;
  }
  return i === parts.length ? params : undefined;
}

/**
 * The request path as Azure routes it: decoded once, every escape included, BEFORE route matching.
 * Azure's front end decodes "%2F" to "/" (azure-functions-host #9290, #5619, #3998), so an encoded
 * "/" splits segments there: `rotations/{id}/approve` never matches an id holding one, and only a
 * catch-all `{*id}` (last segment) receives it, as the rest of the decoded path. Splitting first and
 * decoding each segment, as this host did before, matched such routes here and hid the 404 that
 * Azure answers. An escape that does not decode to UTF-8 text (invalid hex, a truncated sequence,
 * an overlong form, an encoded surrogate) is refused before any function or authentication runs,
 * as the front end refuses it ("400 Bad Request - Invalid URL"): undefined here.
 */
export function decodeRequestPath(pathname: string): string | undefined {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
}

/** Finds the HTTP function for a request under /api (literal segments win over parameters).
 * `decodedPath` comes from decodeRequestPath: a "/" in it separates segments, whatever its origin. */
export function routeHttp(method: string, decodedPath: string): { fn: RegisteredFunction; params: Record<string, string> } | undefined {
  const parts = decodedPath.replace(/^\/api\/?/i, "").split("/").filter((p) => p.length > 0);
  let best: { fn: RegisteredFunction; params: Record<string, string>; score: number } | undefined;
  for (const fn of functionsByTrigger("httpTrigger")) {
    const t = triggerOf(fn);
    const methods = (t.methods as string[] | undefined)?.map((m) => m.toUpperCase());
    if (methods && methods.length > 0 && !methods.includes(method.toUpperCase())) continue;
    const segments = parseRoute(typeof t.route === "string" && t.route ? t.route : fn.metadata.name);
    const params = matchRoute(segments, parts);
    if (!params) continue;
    const score = segments.filter((s) => s.literal !== undefined).length * 10 - segments.filter((s) => s.catchAll).length;
    if (!best || score > best.score) best = { fn, params, score };
  }
  return best ? { fn: best.fn, params: best.params } : undefined;
}

const str = (x: unknown): string => (typeof x === "string" ? x : JSON.stringify(x) ?? "");

function serializeCookie(c: Record<string, unknown>): string {
  const v = (x: unknown): unknown => (x && typeof x === "object" && "value" in x ? x.value : x);
  let s = `${str(c.name)}=${str(c.value)}`;
  if (v(c.domain)) s += `; Domain=${str(v(c.domain))}`;
  if (v(c.path)) s += `; Path=${str(v(c.path))}`;
  if (v(c.maxAge) !== undefined && v(c.maxAge) !== null) s += `; Max-Age=${str(v(c.maxAge))}`;
  if (v(c.secure)) s += "; Secure";
  if (v(c.httpOnly)) s += "; HttpOnly";
  return s;
}

export async function invokeHttpFunction(req: HttpInput, ctx: TriggerContext): Promise<HttpResult> {
  const url = new URL(req.url, ctx.baseUrl());
  const decodedPath = decodeRequestPath(url.pathname);
  if (decodedPath === undefined) {
    return json(400, { error: { code: "MalformedUrl", message: "The request path has a percent-escape that does not decode to UTF-8 text" } });
  }
  const routed = routeHttp(req.method, decodedPath);
  if (!routed) return { status: 404, headers: {}, body: Buffer.alloc(0) };
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const http: RpcHttpData = {
    method: req.method.toUpperCase(),
    url: url.href,
    headers: req.headers,
    query,
    params: routed.params,
    ...(req.body.length > 0 ? { body: { bytes: req.body } } : {}),
  };
  const triggerMetadata: Record<string, RpcTypedData> = {};
  for (const [k, v] of Object.entries(routed.params)) triggerMetadata[k] = { string: v };
  let resp;
  const cutAt = hostLimits().httpResponseTimeoutMs;
  try {
    resp = await within(invokeTrigger(routed.fn, { http }, ctx, triggerMetadata), cutAt, () => undefined);
    if (resp === undefined) {
      // Azure's load balancer gives up on the response; the function itself goes on running.
      ctx.log(`[keyrotor] [devhost] http function '${routed.fn.metadata.name}' did not answer within ${cutAt} ms: 502, as the Azure front end answers`);
      return { status: 502, headers: { "content-type": "text/plain" }, body: Buffer.from(`The function did not respond within ${Math.round(cutAt / 1000)} s (the Azure load balancer's limit).`) };
    }
  } catch (err) {
    ctx.log(`[keyrotor] [devhost] http function '${routed.fn.metadata.name}' failed: ${err instanceof Error ? err.message : String(err)}`);
    return { status: 500, headers: {}, body: Buffer.alloc(0) };
  }
  const out = resp.returnValue?.http ?? resp.outputData?.find((o) => o.data?.http)?.data?.http;
  if (!out) return { status: 204, headers: {}, body: Buffer.alloc(0) };
  const headers: Record<string, string | string[]> = { ...(out.headers ?? {}) };
  if (out.cookies?.length) headers["set-cookie"] = out.cookies.map(serializeCookie);
  const body = out.body?.bytes ? Buffer.from(out.body.bytes) : out.body?.string ? Buffer.from(out.body.string) : Buffer.alloc(0);
  return { status: Number(out.statusCode ?? 200), headers, body };
}

// ---- timers ------------------------------------------------------------------------------------

export async function fireTimerFunction(fn: RegisteredFunction, isPastDue: boolean, ctx: TriggerContext, last?: Date, next?: Date): Promise<void> {
  const now = new Date().toISOString();
  const timerInfo = {
    Schedule: { AdjustForDST: true },
    ScheduleStatus: { Last: (last ?? new Date(0)).toISOString(), Next: (next ?? new Date(0)).toISOString(), LastUpdated: now },
    IsPastDue: isPastDue,
  };
  await invokeTrigger(fn, { json: JSON.stringify(timerInfo) }, ctx);
}

// ---- JSON answers (the Event Grid webhook lives in eventGridWebhook.ts) ----------------------

const json = (status: number, value: unknown): HttpResult => ({
  status,
  headers: { "content-type": "application/json; charset=utf-8" },
  body: Buffer.from(JSON.stringify(value)),
});
