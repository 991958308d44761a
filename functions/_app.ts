// The app's composition, built once per worker and kept in that worker's app hook data, never in a
// module variable: two workers (two dev hosts in one process, say) each run with their own. appStart
// builds it (a host may hand its own composition, compose()'s overrides, in appStart's hook data;
// the local host and the tests do), every invocation's preInvocation hook attaches it to the
// invocation's context, and appTerminate closes it. Every function file imports this module, so the
// hooks are registered once whichever file the worker loads first. Not a function: the leading
// underscore keeps it apart from them.
//
// The hooks go through @azure/functions-core, the worker's own module, because only there do they
// see `appHookData` (the one object all hooks of a worker share): @azure/functions 4.x hands its
// app.hook.* callbacks `hookData` alone, which for appStart is app-level only and for an invocation
// is that invocation's.
import { createRequire } from "node:module";
import type { InvocationContext } from "@azure/functions";
import { compose, COMPOSE_HOOK_DATA, type Composition, type ComposeOnStart } from "../lib/compose";
import { loadConfig } from "../lib/config";
import { ensureTelemetry } from "../lib/telemetry";

/** Where a worker's app hook data holds its composition. */
const COMPOSITION = "keyrotor.composition";

interface CoreHookContext {
  hookData: Record<string, unknown>;
  appHookData: Record<string, unknown>;
  invocationContext?: unknown;
}
interface WorkerCore {
  registerHook(name: "appStart" | "appTerminate" | "preInvocation", callback: (ctx: CoreHookContext) => unknown): unknown;
}

/** Each invocation's composition, keyed by its context: set by preInvocation, read by the handler;
 * it outlives no invocation (the context is gone when the invocation is). */
const attached = new WeakMap<InvocationContext, Promise<Composition>>();

function start(appStartHookData: Record<string, unknown> | undefined): Promise<Composition> {
  ensureTelemetry();
  const supplied = appStartHookData?.[COMPOSE_HOOK_DATA] as ComposeOnStart | undefined;
  return typeof supplied === "function" ? supplied() : compose(loadConfig());
}

/** The worker's module; absent outside a Functions worker (or a dev host standing in for one). */
function workerCore(): WorkerCore | undefined {
  try {
    return createRequire(__filename)("@azure/functions-core") as WorkerCore;
  } catch {
    return undefined;
  }
}

const core = workerCore();
core?.registerHook("appStart", (ctx) => {
  ctx.appHookData[COMPOSITION] = start(ctx.hookData);
});
core?.registerHook("preInvocation", (ctx) => {
  // A worker invoked before appStart ran (cold path) builds it the same way, from configuration,
  // once: there is no second, cold-path wiring.
  ctx.appHookData[COMPOSITION] ??= start(undefined);
  attached.set(ctx.invocationContext as InvocationContext, ctx.appHookData[COMPOSITION] as Promise<Composition>);
});
core?.registerHook("appTerminate", async (ctx) => {
  const closing = ctx.appHookData[COMPOSITION] as Promise<Composition> | undefined;
  delete ctx.appHookData[COMPOSITION];
  await (await closing)?.close();
});

/** The composition the invocation with this context runs with: its worker's. */
export function composition(context: InvocationContext): Promise<Composition> {
  const c = attached.get(context);
  if (!c) throw new Error("[keyrotor] no composition for this invocation: it did not run through a Functions worker's preInvocation hook (functions/_app.ts)");
  return c;
}
