// Activity hierarchyMigration: parse, one lib call, map (lib/hierarchy/durableActivities.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function hierarchyMigration(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("hierarchyMigration", input, await composition(context));
}

df.app.activity(DURABLE.activities.hierarchyMigration, { handler: hierarchyMigration });
