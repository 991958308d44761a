// Activity hierarchyKekRotation: parse, one lib call, map (lib/hierarchy/durableActivities.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function hierarchyKekRotation(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("hierarchyKekRotation", input, await composition(context));
}

df.app.activity(DURABLE.activities.hierarchyKekRotation, { handler: hierarchyKekRotation });
