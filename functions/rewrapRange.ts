// Activity rewrapRange: plan, tenants page, or one paced range (lib/orchestration/rewrap/range.ts),
// the range fenced by the lock grant it carries (lib/orchestration/handlers.ts).
import * as df from "durable-functions";
import { runRewrapRangeActivity } from "../lib/orchestration/handlers";
import { DURABLE } from "../lib/orchestration/names";

export async function rewrapRange(input: unknown): Promise<unknown> {
  return runRewrapRangeActivity(input);
}

df.app.activity(DURABLE.activities.rewrapRange, { handler: rewrapRange });
