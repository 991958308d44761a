// Activity readFence: the highest lock token recorded for a key, which its next grant exceeds
// (lib/orchestration/fence.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function readFence(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("readFence", input, await composition(context));
}

df.app.activity(DURABLE.activities.readFence, { handler: readFence });
