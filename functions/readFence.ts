// Activity readFence: the highest lock token recorded for a key, which its next grant exceeds
// (lib/orchestration/fence.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function readFence(input: unknown): Promise<unknown> {
  return runActivity("readFence", input, await composition());
}

df.app.activity(DURABLE.activities.readFence, { handler: readFence });
