// Signing key rotation: verifiers learn the new public key (JWKS) before anything is signed with
// it; after the promotion the old version only verifies.
import type { Task } from "durable-functions";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { step, type Flow, type FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import type { ProbeToken } from "../../validation/gates";
import { revokeIfEmergency, revokes, revokeTarget } from "./revoke";
import { validate } from "./validate";

const A = DURABLE.activities;

export function* signingFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  const keyId = f.input.keyId;
  // Tokens the versions that stay in the JWKS signed while they could (before the old primary is
  // narrowed to verify), for the check of the published JWKS after the promotion.
  let tokens: ProbeToken[] = [];
  const out = yield* rollOut(f, kc, {
    create: A.createKeyVersion,
    *published(fl, version) { yield* step(fl, A.publishJwks, { keyId, include: [version] }); },
    // Before the new version signs anything: its probe verifies against the JWKS just published.
    *validate(fl, version) {
      tokens = (yield* validate(fl, "signingProbe", version, { alsoSign: kc.primaryVersion ? [kc.primaryVersion] : [] })).tokens ?? [];
    },
    *promoted(fl, before) { yield* step(fl, A.setKeyOps, { keyId, version: before, keyOps: ["verify"] }); },
  });
  const newVersion = out.created.version;
  yield* step(f, A.publishJwks, { keyId });
  // The published JWKS verifies the new and the retained versions before anything is disabled.
  const target = revokes(f, kc) ? revokeTarget(f, out.versionBefore) : undefined;
  const retained = [...new Set([...kc.versions.filter((v) => v.state === "primary" || v.state === "secondary").map((v) => v.version), ...(out.versionBefore ? [out.versionBefore] : [])])]
    .filter((v) => v !== newVersion && v !== target);
  yield* validate(f, "signingPublished", newVersion, { retained, tokens });
  if (target) {
    yield* revokeIfEmergency(f, kc, out.versionBefore);
    yield* step(f, A.publishJwks, { keyId });
  }
  return rolledOut(out);
}
