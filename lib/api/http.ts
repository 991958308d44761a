// Registration options of an HTTP function from its route spec, and the durable client of an
// invocation. Keeps every functions/ file to parse → one lib call → map.
import type { HttpFunctionOptions, HttpHandler, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { lockEntityKey, type LockState } from "../domain/rotation";
import { DURABLE, LOCK_OPS } from "../orchestration/names";
import type { RotationClient } from "./ports";
import type { RouteSpec } from "./routes";

export function httpOptions(spec: RouteSpec, handler: HttpHandler): HttpFunctionOptions {
  return {
    route: spec.route,
    methods: [spec.method],
    // Easy Auth (App Service Authentication) authenticates; lib/http/api.ts authorizes by role.
    authLevel: "anonymous",
    ...(spec.durableClient ? { extraInputs: [df.input.durableClient()] } : {}),
    handler,
  };
}

/** The durable client bound to this invocation (the function must declare the durableClient
 * input). durable-functions' DurableClient pastes instance ids into request URLs unencoded, and the
 * extension URL-decodes the path: instanceIdFor()'s "%2F" escapes would arrive as "/" and be
 * refused. Encoding the id once here makes it arrive exactly as instanceIdFor() made it. */
export function rotationClient(ctx: InvocationContext): RotationClient {
  const client = df.getClient(ctx);
  return {
    startNew: (name, opts) => client.startNew(name, { input: opts.input, instanceId: encodeURIComponent(opts.instanceId) }),
    getStatus: (instanceId) => client.getStatus(encodeURIComponent(instanceId)),
    // The entity key goes into the URL path the same unencoded way: encode it once here too.
    readLockState: async (keyId) => {
      const r = await client.readEntityState<LockState>(new df.EntityId(DURABLE.entities.keyLock, encodeURIComponent(lockEntityKey(keyId))));
      return r.entityExists ? r.entityState : undefined;
    },
    forceReleaseLock: (keyId, expectedOwner, actor) =>
      client.signalEntity(new df.EntityId(DURABLE.entities.keyLock, encodeURIComponent(lockEntityKey(keyId))), LOCK_OPS.forceRelease, { expectedOwner, actor }),
    terminate: (instanceId, reason) => client.terminate(encodeURIComponent(instanceId), reason),
    runningInstances: async (prefix) => {
      const running = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.ContinuedAsNew] });
      return running.map((s) => s.instanceId).filter((id) => id.startsWith(prefix));
    },
  };
}

/** Query parameters as a plain object (for zod validation of the whole query). */
export function queryOf(req: { query: URLSearchParams }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of req.query) out[k] = v;
  return out;
}
