// The Durable extension's HTTP API (the one durable-functions' DurableClient calls), served on the
// host's loopback URL. The client input binding points `rpcBaseUrl` here, so the app's unchanged
// client calls (startNew, getStatus, raiseEvent, terminate, purge, signalEntity, readEntityState)
// land in the engine. Status codes follow the extension's HttpApiHandler (500 "Something went wrong" on
// a duplicate start: the client's InvalidOperationException is not caught there; 410 on a finished
// instance, 412 when purging a running one).
import { DurableApiError, type DurableEngine, type InstanceStatus } from "./engine";
import { historyForStatus } from "./historyView";
import { TERMINAL_STATUSES, type RuntimeStatus } from "./store";
import { systemKeyGiven, systemKeyRefused } from "./systemKeys";
import type { HttpInput, HttpResult } from "./triggers";

export const TASK_HUB = "devhost";
export const WEBHOOK_PATH = "/runtime/webhooks/durabletask";
/** The extension's local RPC endpoint (LocalHttpListener, http://127.0.0.1:17071/durabletask/ in
 * Azure): what durable-functions calls through `rpcBaseUrl`. It is not behind the Functions host,
 * so no key is asked there. dev/host serves it on its own port. */
export const RPC_PATH = "/durabletask";

/** The JSON the extension hands a function's durableClient input binding. The webhook URL the host
 * gives the extension carries `?code=<system key>`, so every link and `requiredQueryStringParameters`
 * carry it (HttpApiHandler.GetUniversalQueryStrings); without a key (no host keys) they carry none. */
export function durableClientInputData(baseUrl: string, systemKey?: string): Record<string, unknown> {
  const base = `${baseUrl}${WEBHOOK_PATH}`;
  const code = codeQuery(systemKey);
  const instance = `${base}/instances/INSTANCEID`;
  return {
    taskHubName: TASK_HUB,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?${code}`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
    },
    managementUrls: managementUrls(instance, managementQuery(systemKey), "INSTANCEID"),
    baseUrl: base,
    requiredQueryStringParameters: code,
    rpcBaseUrl: `${baseUrl}${RPC_PATH}/`,
  };
}

function codeQuery(systemKey: string | undefined): string {
  return systemKey === undefined ? "" : `code=${encodeURIComponent(systemKey)}`;
}

function managementQuery(systemKey: string | undefined): string {
  const code = codeQuery(systemKey);
  return `taskHub=${TASK_HUB}&connection=Storage${code ? `&${code}` : ""}`;
}

function managementUrls(instance: string, q: string, id: string): Record<string, string> {
  return {
    id,
    statusQueryGetUri: `${instance}?${q}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${q}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${instance}?${q}`,
    restartPostUri: `${instance}/restart?${q}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${q}`,
    resumePostUri: `${instance}/resume?reason={text}&${q}`,
  };
}

/** What the extension's client throws for an operation the instance's state does not allow, and
 * for a connection it cannot resolve: HttpApiHandler does not catch it, so the caller gets a 500. */
export class InvalidOperationException extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidOperationException";
  }
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): HttpResult => ({
  status,
  headers: { "content-type": "application/json; charset=utf-8", ...headers },
  body: Buffer.from(JSON.stringify(value)),
});

const empty = (status: number): HttpResult => ({ status, headers: {}, body: Buffer.alloc(0) });

function bodyJson(req: HttpInput): string | null {
  const text = req.body.toString("utf8");
  if (text.trim() === "") return null;
  JSON.parse(text);
  return text;
}

/** One URL unescape as .NET's Uri.UnescapeDataString does it: valid %XX runs decode, anything else
 * (a broken escape, invalid UTF-8) stays as written. */
function unescapeLenient(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** A path segment as the extension's local RPC endpoint reads it: URL-decoded twice — Kestrel
 * decodes the request path, then HttpApiHandler runs WebUtility.UrlDecode over it (which also
 * reads "+" as a space) before matching its routes; dev/durable-runtime/README.md. So "%252F" and
 * "%2F" both arrive as "/", "%2525" as "%", "+" as " ". durable-functions sends ids and keys into
 * the path unencoded; this keeps the fast tests as strict as the real runtime about ids that would
 * need encoding. */
export function decodeSegmentTwice(segment: string): string {
  return unescapeLenient(unescapeLenient(segment).replace(/\+/g, " "));
}

/** A boolean query parameter as HttpApiHandler reads it (bool.TryParse: "true"/"false" in any case;
 * anything else, or none, is the default). */
function boolParam(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const v = query.get(name)?.trim().toLowerCase();
  return v === "true" ? true : v === "false" ? false : fallback;
}

/** The status as HttpApiHandler.ConvertFrom writes it (StatusResponsePayload): its fields in this
 * order, both times as `DateTime.ToString("s") + "Z"` (whole seconds, truncated), historyEvents only
 * when there is a history to show. */
function statusPayload(status: InstanceStatus, historyEvents?: unknown): Record<string, unknown> {
  const seconds = (iso: string): string => `${new Date(iso).toISOString().slice(0, 19)}Z`;
  return {
    name: status.name, instanceId: status.instanceId, runtimeStatus: status.runtimeStatus, input: status.input, customStatus: status.customStatus,
    output: status.output, createdTime: seconds(status.createdTime), lastUpdatedTime: seconds(status.lastUpdatedTime),
    ...(historyEvents === undefined ? {} : { historyEvents }),
  };
}

/** The connection the extension's client binds to (HttpApiHandler.GetClient): the first `connection`
 * query parameter (name compared ignoring case) with a non-blank value, else the default ("Storage",
 * i.e. AzureWebJobsStorage: dev/host's own store). A name is resolved as WebJobs resolves connection
 * settings: `AzureWebJobs<name>`, then `<name>`, each as a value, a ConnectionStrings entry or a
 * section (`<name>__accountName`, identity-based), ignoring case. One it cannot resolve throws
 * InvalidOperationException, which the handler answers with a 500. dev/host has one store: a
 * resolvable name reads it, whatever account the setting names. */
export function resolveConnection(query: URLSearchParams, env: NodeJS.ProcessEnv = process.env): string {
  let name = "Storage";
  for (const [k, v] of query) {
    if (k.toLowerCase() === "connection" && v.trim() !== "") {
      name = v;
      break;
    }
  }
  // The host's own storage (AzureWebJobsStorage) always resolves, set in this process or not.
  if (name.toLowerCase() === "storage" || name.toLowerCase() === "azurewebjobsstorage") return name;
  const keys = Object.keys(env).filter((k) => env[k] !== undefined).map((k) => k.toLowerCase());
  const exists = (setting: string): boolean => {
    const s = setting.toLowerCase();
    return [s, `connectionstrings__${s}`, `connectionstrings:${s}`].some((c) => keys.includes(c) || keys.some((k) => k.startsWith(`${c}__`) || k.startsWith(`${c}:`)));
  };
  if (exists(`AzureWebJobs${name}`) || exists(name)) return name;
  throw new InvalidOperationException(`Unable to resolve the Azure Storage connection named '${name}'.`);
}

/** Serves both the webhook route (WEBHOOK_PATH: the system key is checked when the host has one)
 * and the local RPC endpoint (RPC_PATH: no key). */
export async function handleDurableApi(req: HttpInput, engine: DurableEngine, baseUrl: string, systemKey?: string): Promise<HttpResult> {
  const url = new URL(req.url, baseUrl);
  const viaRpc = url.pathname === RPC_PATH || url.pathname.startsWith(`${RPC_PATH}/`);
  if (!viaRpc && systemKey !== undefined && !systemKeyGiven(req, url, systemKey)) return systemKeyRefused();
  const rest = url.pathname.slice((viaRpc ? RPC_PATH : WEBHOOK_PATH).length).split("/").filter((p) => p.length > 0).map(decodeSegmentTwice);
  // The real endpoint matches its routes on the decoded path, so a segment that decodes to hold "/"
  // (an id or key sent with "%2F" or "%252F") splits and matches no route there: 404.
  if (rest.some((p) => p.includes("/"))) return empty(404);
  const method = req.method.toUpperCase();
  try {
    const [controller, a, b, c] = rest;
    if (controller === "orchestrators" || controller === "instances" || controller === "entities") resolveConnection(url.searchParams);
    if (controller === "orchestrators" && a && rest.length <= 3) {
      if (method !== "POST") return empty(404);
      let input: string | null;
      try {
        input = bodyJson(req);
      } catch {
        return json(400, { Message: "Invalid JSON content" });
      }
      const id = await engine.startNew(a, b, input);
      const urls = managementUrls(`${baseUrl}${WEBHOOK_PATH}/instances/${encodeURIComponent(id)}`, managementQuery(systemKey), id);
      return json(202, urls, { location: urls.statusQueryGetUri ?? "", "retry-after": "10" });
    }
    if (controller === "instances") {
      if (!a) {
        if (method !== "GET") return empty(method === "DELETE" ? 501 : 404);
        // `taskHub=` picks the hub whose instances are listed; dev/host holds one hub, so another
        // hub's list holds none of its instances (the real extension reads that hub's tables).
        const hub = url.searchParams.get("taskHub");
        if (hub !== null && hub !== TASK_HUB) return json(200, []);
        const statuses = url.searchParams.get("runtimeStatus")?.split(",").filter(Boolean) as RuntimeStatus[] | undefined;
        return json(200, (await engine.listStatuses(statuses ? { runtimeStatus: statuses } : {})).map((st) => statusPayload(st)));
      }
      if (!b) {
        if (method === "GET") {
          const showHistory = boolParam(url.searchParams, "showHistory", false);
          const showInput = boolParam(url.searchParams, "showInput", true);
          const status = await engine.getStatus(a, { showHistory, showInput });
          if (!status) return empty(404);
          const running = ["Running", "Pending", "ContinuedAsNew", "Suspended"].includes(status.runtimeStatus);
          // A Pending instance has no history to show (GetDurableOrchestrationStatusAsync).
          const body = statusPayload(status, status.historyEvents && status.runtimeStatus !== "Pending"
            ? historyForStatus(status.historyEvents, { showHistoryOutput: boolParam(url.searchParams, "showHistoryOutput", false), showInput })
            : undefined);
          return json(running ? 202 : 200, body, running ? { location: url.href, "retry-after": "5" } : {});
        }
        if (method === "DELETE") {
          const deleted = await engine.purge(a);
          return deleted === 0 ? empty(404) : json(200, { instancesDeleted: deleted });
        }
        return empty(404);
      }
      if (method !== "POST") return empty(404);
      if (b === "terminate") {
        await engine.terminate(a, url.searchParams.get("reason"));
        return empty(202);
      }
      if (b === "raiseEvent" && c) {
        let input: string | null;
        try {
          input = bodyJson(req);
        } catch {
          return json(400, { Message: "Invalid JSON content" });
        }
        await engine.raiseEvent(a, c, input);
        return empty(202);
      }
      if (b === "suspend" || b === "resume") {
        // HttpApiHandler reads the instance first: unknown 404, finished 410 (both without a body);
        // then the extension's client refuses a state it cannot leave (InvalidOperationException,
        // the handler's 500): suspend needs Running or Pending, resume needs Suspended.
        const status = await engine.getStatus(a, { showHistory: false, showInput: false });
        if (!status) return empty(404);
        if (TERMINAL_STATUSES.includes(status.runtimeStatus)) return empty(410);
        const allowed = b === "suspend" ? ["Running", "Pending", "ContinuedAsNew"].includes(status.runtimeStatus) : status.runtimeStatus === "Suspended";
        if (!allowed) throw new InvalidOperationException(`Cannot ${b} the orchestration instance ${a} because instance is in the ${status.runtimeStatus} state.`);
        await engine.suspendOrResume(a, b, url.searchParams.get("reason"));
        return empty(202);
      }
      return json(501, { Message: `The dev host does not implement '${b}'` });
    }
    if (controller === "entities" && a && b) {
      if (method === "GET") {
        const r = await engine.readEntity(a, b);
        return r.exists ? json(200, r.state) : empty(404);
      }
      if (method === "POST" || method === "DELETE") {
        const op = url.searchParams.get("op") ?? (method === "DELETE" ? "delete" : "");
        let input: string | null;
        try {
          input = bodyJson(req);
        } catch {
          return json(400, { Message: "Invalid JSON content" });
        }
        await engine.signalEntity(a, b, op, input);
        return empty(202);
      }
    }
    return empty(404);
  } catch (err) {
    if (err instanceof DurableApiError) {
      // HttpApiHandler answers a missing (404) or finished (410) instance without a body
      // (test/support/durableManagementWebhookContract.ts).
      if (err.status === 404 || err.status === 410) return empty(err.status);
      return json(err.status, { Message: err.message });
    }
    // HttpApiHandler's catch-all: CreateErrorResponse(500, ..., e), the exception serialized.
    const type = err instanceof Error && err.name === "InvalidOperationException" ? "System.InvalidOperationException" : "System.Exception";
    return json(500, {
      Message: "Something went wrong while processing your request",
      ExceptionMessage: err instanceof Error ? err.message : String(err),
      ExceptionType: type,
      StackTrace: `   at Microsoft.Azure.WebJobs.Extensions.DurableTask.HttpApiHandler.HandleRequestAsync(HttpRequestMessage request, CancellationToken cancellationToken) (dev/host)`,
    });
  }
}
