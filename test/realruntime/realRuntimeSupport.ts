// Shared by the tests that run the app on the real Durable extension (dev/durable-runtime, issue 16):
// they run wherever dotnet and the built harness exist, and skip with a printed notice elsewhere.
import { createRequire } from "node:module";
import { describe, it } from "vitest";
import { realRuntimeUnavailable, type ClientJson } from "../../dev/durable-runtime/node/harness";
import { OrchestrationRuntimeStatus, type DurableClient } from "durable-functions";

const unavailable = realRuntimeUnavailable();

/** describe() when the real runtime can run here; otherwise one visibly skipped test and a notice. */
export function describeRealRuntime(title: string, body: () => void): void {
  describe(`${title} (real Durable extension)`, () => {
    if (unavailable) {
      // Printed to stderr directly so the notice shows through the reporter's silencing of logs.
      process.stderr.write(`[keyrotor] [durable-runtime] ${unavailable}: "${title}" on the real Durable extension is SKIPPED\n`);
      it.skip(`SKIPPED, real Durable runtime unavailable: ${unavailable}`, () => {});
      return;
    }
    body();
  });
}

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
