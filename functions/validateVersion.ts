// Activity validateVersion: parse, one lib call, map (lib/validation/activity.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function validateVersion(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("validateVersion", input, await composition(context));
}

df.app.activity(DURABLE.activities.validateVersion, { handler: validateVersion });
