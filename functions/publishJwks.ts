// Activity publishJwks: parse, one lib call, map (lib/orchestration/activities.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function publishJwks(input: unknown): Promise<unknown> {
  return runActivity("publishJwks", input, await composition());
}

df.app.activity(DURABLE.activities.publishJwks, { handler: publishJwks });
