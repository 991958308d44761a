// Orchestrator dekFanOutOrchestrator: the workflow lives in lib/orchestration/workflows.ts. With it,
// the instanceStatus activity it asks whether a tenant's rotation from an earlier run still runs
// (lib/orchestration/dekFanOutChildren.ts): it reads the runtime through a durable client binding.
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { instanceStatuses } from "../lib/orchestration/instanceStatus";
import { CLIENT_ACTIVITIES, DURABLE } from "../lib/orchestration/names";
import { dekFanOutOrchestrator } from "../lib/orchestration/workflows";

export async function instanceStatus(input: unknown, context: InvocationContext): Promise<unknown> {
  const client = df.getClient(context);
  return instanceStatuses({ getStatus: (id) => client.getStatus(id) }, input);
}

df.app.orchestration(DURABLE.orchestrators.dekFanOut, dekFanOutOrchestrator);
df.app.activity(CLIENT_ACTIVITIES.instanceStatus, { extraInputs: [df.input.durableClient()], handler: instanceStatus });

export { dekFanOutOrchestrator };
