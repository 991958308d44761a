// Activity hierarchyMigration: parse, one lib call, map (lib/hierarchy/durableActivities.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function hierarchyMigration(input: unknown): Promise<unknown> {
  return runActivity("hierarchyMigration", input, await composition());
}

df.app.activity(DURABLE.activities.hierarchyMigration, { handler: hierarchyMigration });
