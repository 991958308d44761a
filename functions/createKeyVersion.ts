// Activity createKeyVersion: parse, one lib call, map (lib/orchestration/activities.ts).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function createKeyVersion(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("createKeyVersion", input, await composition(context));
}

df.app.activity(DURABLE.activities.createKeyVersion, { handler: createKeyVersion });
