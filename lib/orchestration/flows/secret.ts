// Secret rotation: a new value in the vault (in the credential slot its generator fills), then
// promoted after the propagation wait.
import type { Task } from "durable-functions";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import type { Flow, FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import { revokeIfEmergency } from "./revoke";
import { validate } from "./validate";

export function* secretFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  const out = yield* rollOut(f, kc, {
    create: DURABLE.activities.createSecretVersion, details: (c) => (c.slot ? { slot: c.slot } : undefined),
    // The new value reads back (and authenticates at its provider) before consumers are told of it.
    *validate(fl, version) { yield* validate(fl, "secretReadBack", version); },
  });
  yield* revokeIfEmergency(f, kc, out.versionBefore);
  return rolledOut(out);
}
