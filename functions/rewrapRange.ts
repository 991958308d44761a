// Activity rewrapRange: parse, one lib call, map (lib/orchestration/activities.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { DURABLE } from "../lib/orchestration/names";

export async function rewrapRange(input: unknown): Promise<unknown> {
  return runActivity("rewrapRange", input);
}

df.app.activity(DURABLE.activities.rewrapRange, { handler: rewrapRange });
