// Activity claimFence: records a lock grant in its key's fence row, so mutating activities can check
// they act under the latest grant (lib/orchestration/fence.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function claimFence(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("claimFence", input, await composition(context));
}

df.app.activity(DURABLE.activities.claimFence, { handler: claimFence });
