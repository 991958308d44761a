// Secret rotation: a new value in the vault (in the credential slot its generator fills), then
// promoted after the propagation wait.
import type { Task } from "durable-functions";
import type { RotationContextView, SecretPrepared } from "../activities";
import { DURABLE } from "../names";
import { nowIso, rec, step, type Flow, type FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import { revokeIfEmergency } from "./revoke";
import { validate } from "./validate";

/** createSecret, part 1 (provider secrets): the slot, its fingerprint, or what must retire first. */
function* prepare(f: Flow, emergency: boolean): Generator<Task, SecretPrepared & { retireFirst?: string[] }, unknown> {
  return yield* step(f, DURABLE.activities.createSecretVersion, { rotationId: f.input.rotationId, keyId: f.input.keyId, at: nowIso(f.ctx), prepare: true, emergency });
}

export function* secretFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  // Provider secrets (lib/secrets): first the slot not in use and its credential's fingerprint, kept
  // in history, so a create retried after a crash between regenerate and store never regenerates
  // twice. Generated secrets answer {} and nothing changes for them.
  const emergency = f.input.mode === "emergency";
  let prepared = yield* prepare(f, emergency);
  // After a rollback the slot to regenerate still hands out the rolled-back version: retire it
  // first (its credential ends at the provider; ledger and Retired event say so), then prepare the
  // freed slot (lib/domain/secretProviders.ts claimSlot has the rule and why).
  if (prepared.retireFirst?.length) {
    for (const version of prepared.retireFirst) {
      yield* step(f, DURABLE.activities.disableVersion, { rotationId: f.input.rotationId, keyId: f.input.keyId, version, state: "retired" });
      yield* rec(f, `retired:${version}`, "Retired", "Retired", { versionBefore: version, details: { rolledBack: true, ...(prepared.slot ? { slot: prepared.slot } : {}) } });
    }
    prepared = yield* prepare(f, emergency);
  }
  const out = yield* rollOut(f, kc, {
    create: DURABLE.activities.createSecretVersion, details: (c) => (c.slot ? { slot: c.slot } : undefined),
    input: { emergency, ...(prepared.slot ? { prepared: { slot: prepared.slot, ...(prepared.before ? { before: prepared.before } : {}), ...(prepared.version ? { version: prepared.version } : {}) } } : {}) },
    // The new value reads back (and authenticates at its provider) before consumers are told of it.
    *validate(fl, version) { yield* validate(fl, "secretReadBack", version); },
  });
  yield* revokeIfEmergency(f, kc, out.versionBefore);
  return rolledOut(out);
}
