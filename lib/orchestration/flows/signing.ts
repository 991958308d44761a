// Signing key rotation: verifiers learn the new public key (JWKS) before anything is signed with
// it; after the promotion the old version only verifies.
import type { Task } from "durable-functions";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { step, type Flow, type FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import { revokeIfEmergency } from "./revoke";

const A = DURABLE.activities;

export function* signingFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  const keyId = f.input.keyId;
  const out = yield* rollOut(f, kc, {
    create: A.createKeyVersion,
    *published(fl, version) { yield* step(fl, A.publishJwks, { keyId, include: [version] }); },
    *promoted(fl, before) { yield* step(fl, A.setKeyOps, { keyId, version: before, keyOps: ["verify"] }); },
  });
  yield* revokeIfEmergency(f, kc, out.versionBefore);
  yield* step(f, A.publishJwks, { keyId });
  return rolledOut(out);
}
