// A stand-in parent for the rewrap on the dev host: what the rotation orchestrator lends rewrapAll
// (custom status, ledger checkpoints, lease renewal, its lock grant) as plain activities the tests
// can observe, so these tests depend only on the rewrap and the host.
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { appHookDataFor } from "../../../dev/app/composition";
import type { ApiServices } from "../../../lib/api/ports";
import { claimFence, MemoryFenceStore } from "../../../lib/orchestration/fence";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { rewrapAll, type RewrapDeps, type RewrapRequest } from "../../../lib/orchestration/rewrap";

// Range activities write only under the latest recorded grant of the KEK's lock (invariant 8): the
// stand-in records one per parent, the next token for the key, and lends it to the rewrap.
const fences = new MemoryFenceStore();

/** What the host hands the app at start: the rewrap under test and the fence rows; the rewrap
 * functions use nothing else of the composition. */
export function rewrapAppHookData(rewrap: RewrapDeps): Record<string, unknown> {
  const rotation = { fences } as Partial<RotationDeps> as RotationDeps;
  return appHookDataFor({ api: {} as ApiServices, rotation, rewrap, close: () => Promise.resolve() });
}
df.app.activity("rewrapTestFence", {
  handler: async (input: { keyId: string; owner: string }) => {
    const token = ((await fences.read(input.keyId))?.record.token ?? 0) + 1;
    await claimFence(fences, input.keyId, { owner: input.owner, token });
    return { owner: input.owner, token };
  },
});

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
  const fence = (yield ctx.df.callActivity("rewrapTestFence", { keyId: req.kekKeyId, owner: ctx.df.instanceId })) as { owner: string; token: number };
  return yield* rewrapAll(ctx, { ...req, fence }, {
    progress: (progress) => ctx.df.setCustomStatus({ phase: "rewrapping", progress }),
    *checkpoint(step, counts) {
      yield ctx.df.callActivity("rewrapTestCheckpoint", { step, counts });
    },
    *renewLease() {
      return (yield ctx.df.callActivity("rewrapTestLease", null)) as boolean;
    },
  });
});
