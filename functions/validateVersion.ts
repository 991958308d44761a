// Activity validateVersion: parse, one lib call, map (lib/validation/activity.ts).
import * as df from "durable-functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function validateVersion(input: unknown): Promise<unknown> {
  return runActivity("validateVersion", input, await composition());
}

df.app.activity(DURABLE.activities.validateVersion, { handler: validateVersion });
