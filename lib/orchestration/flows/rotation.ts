// The rotation orchestrator: one path for every trigger; the key's kind picks the flow.
import type { OrchestrationContext, Task } from "durable-functions";
import { dekFlow } from "./dek";
import { underLock } from "./frame";
import { kekFlow } from "./kek";
import { secretFlow } from "./secret";
import { signingFlow } from "./signing";
import { RotationInputSchema, type RotationOutput } from "./types";

export function* rotationOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const input = RotationInputSchema.parse(ctx.df.getInput());
  return yield* underLock(ctx, input, function* (f, kc) {
    switch (kc.kind) {
      case "kek": return yield* kekFlow(f, kc);
      case "dek": return yield* dekFlow(f);
      case "signing": return yield* signingFlow(f, kc);
      case "secret": return yield* secretFlow(f, kc);
    }
  });
}
