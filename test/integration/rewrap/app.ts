// A stand-in parent for the rewrap on the dev host: what the rotation orchestrator lends rewrapAll
// (custom status, ledger checkpoints, lease renewal) as plain activities the tests can observe, so
// these tests depend only on the rewrap and the host.
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { rewrapAll, type RewrapRequest } from "../../../lib/orchestration/rewrap";

export const PARENT = "rewrapTestParent";
export const checkpoints: { step: string; counts: Record<string, number> }[] = [];

df.app.activity("rewrapTestCheckpoint", {
  handler: (input: { step: string; counts: Record<string, number> }) => {
    checkpoints.push(input);
    return null;
  },
});
df.app.activity("rewrapTestLease", { handler: () => true });

df.app.orchestration(PARENT, function* (ctx: OrchestrationContext) {
  const req = ctx.df.getInput<RewrapRequest>();
  return yield* rewrapAll(ctx, req, {
    progress: (progress) => ctx.df.setCustomStatus({ phase: "rewrapping", progress }),
    *checkpoint(step, counts) {
      yield ctx.df.callActivity("rewrapTestCheckpoint", { step, counts });
    },
    *renewLease() {
      return (yield ctx.df.callActivity("rewrapTestLease", null)) as boolean;
    },
  });
});
