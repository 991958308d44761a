// The Node end of the real-Durable-runtime harness: serves POST /invoke for the .NET stubs and runs
// the app's registered handler through dev/host's worker (the programming model's own
// InvocationModel), so orchestrators, activities and entities run unchanged. The payload is the
// string the extension gave the stub's string trigger (its out-of-process JSON protocol). Event Grid
// functions come through the real Event Grid extension's webhook: the payload is one event as its
// JToken-to-string converter wrote it, and `client` the [DurableClient] string JSON.
import "../../host/functionsCore";
import { createServer, type Server } from "node:http";
import { coreRegistry } from "../../host/functionsCore";
import type { RegisteredFunction } from "../../host/functionsCore";
import { findFunction, invoke, InvocationFailure, triggerOf, typedDataToJson, type InvocationInput } from "../../host/worker";

export type DurableKind = "orchestration" | "activity" | "entity" | "eventGrid";

export interface FunctionSpec {
  name: string;
  kind: DurableKind;
  /** The function declares a durable client input (its stub binds [DurableClient] string). */
  durableClient?: boolean;
}

export interface Bridge {
  readonly url: string;
  /** The app's durable functions, for the harness's stubs. */
  readonly functions: FunctionSpec[];
  /** Every invocation seen, in order (name and kind), for the tests' evidence. */
  readonly calls: Array<{ name: string; kind: string; payload: string }>;
  close(): Promise<void>;
}

const KINDS: Record<string, DurableKind> = { orchestrationtrigger: "orchestration", activitytrigger: "activity", entitytrigger: "entity", eventgridtrigger: "eventGrid" };

/** The app's durable client input bindings (durable-functions names them durableClient). */
function clientBindings(fn: RegisteredFunction): string[] {
  return Object.entries(fn.metadata.bindings)
    .filter(([, b]) => b.direction === "in" && (b.type === "durableClient" || b.type === "orchestrationClient"))
    .map(([name]) => name);
}

/** The durable and Event Grid functions the loaded app registered (HTTP and timer triggers are not hosted here). */
export function durableFunctions(): FunctionSpec[] {
  const out: FunctionSpec[] = [];
  for (const fn of coreRegistry().functions.values()) {
    const kind = KINDS[triggerOf(fn).type.toLowerCase()];
    if (kind === "eventGrid") out.push({ name: fn.metadata.name, kind, durableClient: clientBindings(fn).length > 0 });
    else if (kind) out.push({ name: fn.metadata.name, kind });
  }
  return out;
}

/** The binding data the Functions host sends the worker for one invocation. */
function inputsFor(fn: RegisteredFunction, kind: string, payload: string | null, client: string | undefined): InvocationInput {
  const trigger = triggerOf(fn).name;
  if (kind !== "eventGrid") return { inputData: [{ name: trigger, data: payload === null ? null : { json: payload } }] };
  // The host hands a string parameter's value over as RPC string data (the library parses it), the
  // durable client likewise, and the trigger's binding data ("data": the event's data) as metadata.
  const event = payload === null ? undefined : (JSON.parse(payload) as { data?: unknown });
  return {
    inputData: [{ name: trigger, data: payload === null ? null : { string: payload } }, ...clientBindings(fn).map((name) => ({ name, data: client === undefined ? null : { string: client } }))],
    triggerMetadata: event?.data === undefined ? {} : { data: { json: JSON.stringify(event.data) } },
  };
}

async function readBody(req: import("node:http").IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Loads the app's entry modules (once per process, like the worker) and starts the bridge; its
 * invocations' hooks receive `appHookData`, the worker's app hook data (dev/host/worker.ts invoke). */
export async function startBridge(entries: string[], appHookData: Record<string, unknown>): Promise<Bridge> {
  for (const entry of entries) await import(entry);
  const functions = durableFunctions();
  if (functions.length === 0) throw new Error("[keyrotor] [durable-runtime] the app registered no durable functions");
  const calls: Bridge["calls"] = [];
  const userLog = (fn: string, _id: string, level: string, message: string): void => {
    if (process.env.KEYROTOR_BRIDGE_LOG) process.stderr.write(`[app] [${fn}] ${level}: ${message}\n`);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      let answer: Record<string, unknown>;
      try {
        const { name, kind, payload, client } = JSON.parse(await readBody(req)) as { name: string; kind: string; payload: string | null; client?: string | null };
        calls.push({ name, kind, payload: payload ?? "" });
        const fn = findFunction(name);
        if (!fn) throw new Error(`[keyrotor] [durable-runtime] no function named ${name}`);
        const resp = await invoke(fn, inputsFor(fn, kind, payload, client ?? undefined), userLog, appHookData);
        answer = { ok: true, result: typedDataToJson(resp.returnValue) };
      } catch (err) {
        // The worker reports the app's own error (its message and stack), not the wrapper's.
        const e = err instanceof Error ? err : new Error(String(err));
        answer = { ok: false, message: e.message, stack: (e instanceof InvocationFailure ? e.remoteStack : e.stack) ?? "" };
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    functions,
    calls,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
