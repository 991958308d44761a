// The app's own durable client (durable-functions) pointed at the harness's real Durable extension.
import { createRequire } from "node:module";
import { OrchestrationRuntimeStatus, type DurableClient } from "durable-functions";
import type { ClientJson } from "./harness";

/**
 * durable-functions' own client class built from the JSON the extension gives a `[DurableClient]
 * string` binding, so the tests reach the extension's real management API (its local RPC endpoint)
 * through the app's client library. df.getClient needs an InvocationContext; the class is the same.
 */
export function durableClient(json: ClientJson): DurableClient {
  const req = createRequire(__filename);
  const mod = req("durable-functions/lib/src/durableClient/DurableClient") as { DurableClient: new (data: ClientJson) => DurableClient };
  return new mod.DurableClient(json);
}

/** Polls until the instance leaves Pending/Running, or throws after timeoutMs. */
export async function waitForEnd(client: DurableClient, instanceId: string, timeoutMs: number): Promise<Awaited<ReturnType<DurableClient["getStatus"]>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await client.getStatus(instanceId);
    if (s.runtimeStatus !== OrchestrationRuntimeStatus.Pending && s.runtimeStatus !== OrchestrationRuntimeStatus.Running) return s;
    if (Date.now() > deadline) throw new Error(`[keyrotor] [durable-runtime] ${instanceId} still ${s.runtimeStatus} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** http://127.0.0.1:port of the harness's Functions-host webhook route (/runtime/webhooks/{extension}),
 * read from the client JSON's baseUrl, which the Durable extension built from that route. */
export function webhookOrigin(json: ClientJson): string {
  return new URL(json.baseUrl).origin;
}
