// Activity recordStep: parse, one lib call, map (lib/orchestration/activities.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function recordStep(input: unknown): Promise<unknown> {
  return runActivity("recordStep", input, await composition());
}

df.app.activity(DURABLE.activities.recordStep, { handler: recordStep });
