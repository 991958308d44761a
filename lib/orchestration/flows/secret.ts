// Secret rotation: a new value in the vault (in the credential slot its generator fills), then
// promoted after the propagation wait.
import type { Task } from "durable-functions";
import type { RotationContextView, SecretPrepared } from "../activities";
import { DURABLE } from "../names";
import { nowIso, step, type Flow, type FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import { revokeIfEmergency } from "./revoke";
import { validate } from "./validate";

export function* secretFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  // Provider secrets (lib/secrets): first the slot not in use and its credential's fingerprint, kept
  // in history, so a create retried after a crash between regenerate and store never regenerates
  // twice. Generated secrets answer {} and nothing changes for them.
  const emergency = f.input.mode === "emergency";
  const prepared = yield* step<SecretPrepared>(f, DURABLE.activities.createSecretVersion, { rotationId: f.input.rotationId, keyId: f.input.keyId, at: nowIso(f.ctx), prepare: true, emergency });
  const out = yield* rollOut(f, kc, {
    create: DURABLE.activities.createSecretVersion, details: (c) => (c.slot ? { slot: c.slot } : undefined),
    input: { emergency, ...(prepared.slot ? { prepared } : {}) },
    // The new value reads back (and authenticates at its provider) before consumers are told of it.
    *validate(fl, version) { yield* validate(fl, "secretReadBack", version); },
  });
  yield* revokeIfEmergency(f, kc, out.versionBefore);
  return rolledOut(out);
}
