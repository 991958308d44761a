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
 * input). */
export function rotationClient(ctx: InvocationContext): RotationClient {
  return rotationClientOf(df.getClient(ctx));
}

/** The app's durable calls on a DurableClient. durable-functions pastes instance ids and entity
 * keys into request URLs as they are, and the extension's RPC endpoint decodes the path twice:
 * instanceIdFor() and lockEntityKey() make ids that read the same either way
 * (lib/orchestration/names.ts), so every call hands them over unencoded. */
export function rotationClientOf(client: df.DurableClient): RotationClient {
  const lockEntity = (keyId: string): df.EntityId => new df.EntityId(DURABLE.entities.keyLock, lockEntityKey(keyId));
  return {
    startNew: (name, opts) => client.startNew(name, { input: opts.input, instanceId: opts.instanceId }),
    getStatus: (instanceId) => client.getStatus(instanceId),
    readLockState: async (keyId) => {
      const r = await client.readEntityState<LockState>(lockEntity(keyId));
      return r.entityExists ? r.entityState : undefined;
    },
    forceReleaseLock: (keyId, expectedOwner, actor) => client.signalEntity(lockEntity(keyId), LOCK_OPS.forceRelease, { expectedOwner, actor }),
    terminate: (instanceId, reason) => client.terminate(instanceId, reason),
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
