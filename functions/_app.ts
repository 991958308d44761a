// The app's composition, built once per worker: in the appStart hook (which the Functions host runs
// when the worker has loaded the app) and closed in appTerminate. Every function file imports this
// module, so the hooks are registered once whichever file the worker loads first; a host may hand
// its own composition in the app hook data (the local host and the tests do, with compose()'s
// overrides). Not a function: the leading underscore keeps it apart from them.
import { app, type AppStartContext } from "@azure/functions";
import { compose, COMPOSE_HOOK_DATA, type Composition, type ComposeOnStart } from "../lib/compose";
import { loadConfig } from "../lib/config";
import { ensureTelemetry } from "../lib/telemetry";

let composed: Promise<Composition> | undefined;

function start(ctx?: AppStartContext): Promise<Composition> {
  ensureTelemetry();
  const supplied = ctx?.hookData[COMPOSE_HOOK_DATA] as ComposeOnStart | undefined;
  return typeof supplied === "function" ? supplied() : compose(loadConfig());
}

app.hook.appStart((ctx) => {
  composed = start(ctx);
});

app.hook.appTerminate(async () => {
  const closing = composed;
  composed = undefined;
  await (await closing)?.close();
});

/** The composition every handler runs with. Before appStart (a worker that invokes first) it is
 * built the same way, from configuration: there is no second, cold-path wiring. */
export function composition(): Promise<Composition> {
  composed ??= start();
  return composed;
}
