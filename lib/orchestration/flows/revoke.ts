// Revocation: only an emergency (two people approved it) revokes; a normal rotation never does,
// whatever its input says: old versions retire after the overlap with a zero-reference proof.
import type { Task } from "durable-functions";
import { revokeDecision } from "../../domain/rotation";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { flowError, rec, step, type Flow } from "./frame";

/** Does this rotation revoke the version it replaces (or the pinned compromised one)? */
export function revokes(f: Flow, kc: RotationContextView): boolean {
  return f.input.mode === "emergency" && (f.input.revokeOld ?? kc.policy.revokeOld);
}

/** The version an emergency revokes: the one pinned when the compromise was reported, else the
 * primary this rotation replaced. */
export const revokeTarget = (f: Flow, versionBefore: string | undefined): string | undefined => f.input.compromisedVersion ?? versionBefore;

/** Disables `version` as revoked, when the count of its remaining references allows it. */
export function* revokeVersion(f: Flow, version: string, remaining: number): Generator<Task, void, unknown> {
  const decision = revokeDecision(remaining, f.input.dataLossAcceptedBy);
  if (!decision.revoke) throw flowError("invariantViolation", "ReferencesRemain", decision.reason);
  yield* step(f, DURABLE.activities.disableVersion, { rotationId: f.input.rotationId, keyId: f.input.keyId, version, state: "revoked" });
  yield* rec(f, `revoked:${version}`, "Revoked", "Revoked", {
    versionBefore: version, counts: { remainingReferences: remaining },
    ...(decision.dataLossAcceptedBy ? { details: { dataLossAcceptedBy: decision.dataLossAcceptedBy } } : {}),
  });
}

/** Signing keys and secrets: nothing stored references their versions, so revoking needs no count. */
export function* revokeIfEmergency(f: Flow, kc: RotationContextView, versionBefore: string | undefined): Generator<Task, void, unknown> {
  const target = revokeTarget(f, versionBefore);
  if (revokes(f, kc) && target) yield* revokeVersion(f, target, 0);
}
