// Activity rewrapRange: plan, tenants page, or one paced range (lib/orchestration/rewrap/range.ts),
// the range fenced by the lock grant it carries (lib/orchestration/handlers.ts), over the rewrap's
// own adapters from the composition (SDK retries off, the configured budget and batch size).
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import { runActivity } from "../lib/orchestration/handlers";
import { composition } from "./_app";
import { DURABLE } from "../lib/orchestration/names";

export async function rewrapRange(input: unknown, context: InvocationContext): Promise<unknown> {
  return runActivity("rewrapRange", input, await composition(context));
}

df.app.activity(DURABLE.activities.rewrapRange, { handler: rewrapRange });
