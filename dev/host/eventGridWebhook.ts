// /runtime/webhooks/eventgrid?functionName=<name>: what the Event Grid extension (Microsoft.Azure.
// WebJobs.Extensions.EventGrid 3.3.0: EventGridExtensionConfigProvider and HttpRequestProcessor)
// answers behind the Functions host's extension webhook route, for a JavaScript function (its
// trigger parameter is a string, so the extension knows neither schema and takes both). Every answer
// here is pinned against the real extension by test/realruntime/eventGridWebhook.test.ts, which runs
// the same cases (test/support/eventGridWebhookContract.ts) against this host.
//
// An exception inside the extension (a body that is not JSON, nests deeper than Json.NET's 64, or
// holds a non-object event; a handshake without a validation code) leaves the host's controller
// unhandled: the answer is a 500 with no body, which Event Grid retries, not a 400.
import type { RegisteredFunction } from "./functionsCore";
import { functionsByTrigger, invokeTrigger, type HttpInput, type HttpResult, type TriggerContext } from "./triggers";

/** An exception the extension would throw out of its converter (the host answers 500). */
class ExtensionFault extends Error {}

const empty = (status: number, headers: Record<string, string> = {}): HttpResult => ({ status, headers, body: Buffer.alloc(0) });
/** StringContent's default media type: the extension's bodies are text/plain, JSON or not. */
const text = (status: number, value: string): HttpResult => ({ status, headers: { "content-type": "text/plain; charset=utf-8" }, body: Buffer.from(value, "utf8") });

/** Verbs the host's route (HostController.ExtensionWebHookHandler) takes; others are 405 before the extension. */
export const EVENT_GRID_ROUTE_VERBS: ReadonlySet<string> = new Set(["GET", "POST", "DELETE", "OPTIONS"]);

/** Json.NET's JsonReader.MaxDepth: a deeper body fails JToken.Parse. */
const MAX_DEPTH = 64;

/** Structural nesting of JSON text (brackets inside strings skipped), without parsing it. */
function jsonNestsDeeperThan(body: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      if (++depth > max) return true;
    } else if (c === "]" || c === "}") depth--;
  }
  return false;
}

/** JToken.Parse of the body: a fault for anything it throws on. */
function parseBody(body: Buffer): unknown {
  const raw = body.toString("utf8");
  // Checked before parsing, so nothing recursive walks a hostile body.
  if (jsonNestsDeeperThan(raw, MAX_DEPTH)) throw new ExtensionFault(`The reader's MaxDepth of ${MAX_DEPTH} has been exceeded`);
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new ExtensionFault(`the body is not JSON: ${(err as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** JToken.ToString() of the validation code (JValue: its value as .NET prints it). */
function dotnetText(v: unknown): string {
  if (v === undefined) throw new ExtensionFault("no validationCode (NullReferenceException)");
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return String(v);
  return JSON.stringify(v, null, 2);
}

/** The handshake reads events[0].data.validationCode of an array (whatever the first event's type),
 * or JSON.parse(data).validationCode of one object (CloudEvents carry data as a string). */
export function validationCodeOf(token: unknown): string {
  if (Array.isArray(token)) {
    const first: unknown = token[0];
    if (!isObject(first) || (first.data !== undefined && !isObject(first.data))) throw new ExtensionFault("the first event has no data object");
    return dotnetText(first.data?.validationCode);
  }
  if (isObject(token)) {
    let data: unknown = token.data;
    if (typeof data === "string") {
      try {
        data = JSON.parse(data) as unknown;
      } catch {
        throw new ExtensionFault("data is not JSON");
      }
    }
    if (!isObject(data)) throw new ExtensionFault("data is not an object");
    return dotnetText(data.validationCode);
  }
  throw new ExtensionFault("The request content should be parseable into a JSON object or array");
}

/** System.Text.Json's default encoding of a string value: non-ASCII, controls and HTML-sensitive
 * characters as \uXXXX (upper-case hex), the common controls in short form. */
export function systemTextJsonString(s: string): string {
  const short: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };
  let out = '"';
  for (const c of s) {
    for (let i = 0; i < c.length; i++) {
      const unit = c.charCodeAt(i);
      const ch = String.fromCharCode(unit);
      if (short[ch]) out += short[ch];
      else if (unit < 0x20 || unit > 0x7e || `"<>&'+\``.includes(ch)) out += `\\u${unit.toString(16).toUpperCase().padStart(4, "0")}`;
      else out += ch;
    }
  }
  return `${out}"`;
}

/** Every event of the batch runs at once (single dispatch); the answer waits for all of them. */
async function notify(fn: RegisteredFunction, token: unknown, ctx: TriggerContext): Promise<HttpResult> {
  if (!Array.isArray(token) && !isObject(token)) throw new ExtensionFault("The request content should be parseable into a JSON object or array");
  const events: unknown[] = Array.isArray(token) ? token : [token];
  const runs = events.map(async (event) => {
    // The trigger binds a JObject: a non-object event fails its own execution with an exception
    // that escapes the extension (after the others ran), not with a failed function result.
    if (!isObject(event)) throw new ExtensionFault("Unable to cast object of type 'Newtonsoft.Json.Linq.JValue' to type 'Newtonsoft.Json.Linq.JObject'");
    // The binding data contract is { data } (EventGridTriggerBinding), nothing else of the event.
    const metadata = event.data === undefined ? undefined : { data: { json: JSON.stringify(event.data) } };
    try {
      await invokeTrigger(fn, { json: JSON.stringify(event) }, ctx, metadata);
      return true;
    } catch (err) {
      ctx.log(`[keyrotor] [devhost] event grid function '${fn.metadata.name}' failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  });
  const results = await Promise.allSettled(runs);
  const fault = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (fault) throw fault.reason;
  // Event Grid redelivers the whole batch on a 500; the body is FunctionInvocationException's message.
  if (results.some((r) => r.status === "fulfilled" && !r.value)) return text(500, `Exception while executing function: Functions.${fn.metadata.name}`);
  return empty(202);
}

/** GET/POST/DELETE/OPTIONS /runtime/webhooks/eventgrid?functionName=<name>, as the extension answers them. */
export async function handleEventGrid(req: HttpInput, ctx: TriggerContext): Promise<HttpResult> {
  const method = req.method.toUpperCase();
  if (!EVENT_GRID_ROUTE_VERBS.has(method)) return empty(405);
  const name = new URL(req.url, ctx.baseUrl()).searchParams.get("functionName") ?? "";
  // The extension keys its listeners by function name in an ordinal (case-sensitive) dictionary.
  const fn = name ? functionsByTrigger("eventGridTrigger").find((f) => f.metadata.name === name) : undefined;
  if (!fn) return text(404, `cannot find function: '${name}'`);
  // CloudEvents abuse protection: a function that does not bind EventGridEvent takes CloudEvents, and
  // the extension allows Event Grid's origin whatever the request names.
  if (method === "OPTIONS") return empty(200, { "webhook-allowed-origin": "eventgrid.azure.net" });
  const kind = (req.headers["aeg-event-type"] ?? "").trim().toLowerCase();
  try {
    if (kind === "subscriptionvalidation") return text(200, `{"validationResponse":${systemTextJsonString(validationCodeOf(parseBody(req.body)))}}`);
    if (kind === "notification") return await notify(fn, parseBody(req.body), ctx);
  } catch (err) {
    if (!(err instanceof ExtensionFault)) throw err;
    ctx.log(`[keyrotor] [devhost] event grid webhook for '${name}' failed in the extension (500): ${err.message}`);
    return empty(500);
  }
  // No aeg-event-type, or one the extension does not know: 400 without reading the body.
  return empty(kind === "unsubscribe" ? 202 : 400);
}
