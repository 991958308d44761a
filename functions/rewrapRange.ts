// Activity rewrapRange: plan, tenants page, or one paced range (lib/orchestration/rewrap/range.ts).
import * as df from "durable-functions";
import { observeActivity } from "../lib/orchestration/handlers";
import { DURABLE } from "../lib/orchestration/names";
import { runRewrapRange } from "../lib/orchestration/rewrap";

export async function rewrapRange(input: unknown): Promise<unknown> {
  return observeActivity(DURABLE.activities.rewrapRange, input, () => runRewrapRange(input));
}

df.app.activity(DURABLE.activities.rewrapRange, { handler: rewrapRange });
