// The two-step rollout every vault-held kind shares: create a version (not primary yet), record it,
// let consumers learn it (propagation wait), promote it, record that. The kind's own work hooks in
// between: a signing key publishes its public key before the wait and narrows the old version to
// verify after the promotion.
import type { Task } from "durable-functions";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { nowIso, rec, setPhase, step, waitPropagation, type Flow } from "./frame";

const A = DURABLE.activities;

export interface Created {
  version: string;
  reused?: boolean;
  /** Secrets: the credential slot the new version fills. */
  slot?: string;
}

export interface Rollout {
  /** createKeyVersion or createSecretVersion. */
  create: string;
  /** More input for the create call (a provider secret's prepared slot, from history). */
  input?: Record<string, unknown>;
  /** What the VersionCreated entry records besides the version. */
  details?: (created: Created) => Record<string, string | number | boolean> | undefined;
  /** After VersionCreated, before the propagation wait. */
  published?: (f: Flow, version: string) => Generator<Task, void, unknown>;
  /** Right before the promotion: proves the new version works (a validation gate); throws to
   * stop the rotation with the version never promoted. */
  validate?: (f: Flow, version: string) => Generator<Task, void, unknown>;
  /** After the promotion, before the Promoted entry: the previous primary, when there was one. */
  promoted?: (f: Flow, versionBefore: string) => Generator<Task, void, unknown>;
}

/** create → record → wait → promote → record. Returns the new version and the one it replaced. */
export function* rollOut(f: Flow, kc: RotationContextView, how: Rollout): Generator<Task, { created: Created; versionBefore?: string }, unknown> {
  const { ctx, input } = f;
  const created = yield* step<Created>(f, how.create, { ...how.input, rotationId: input.rotationId, keyId: input.keyId, at: nowIso(ctx) });
  setPhase(f, "versionCreated");
  const details = how.details?.(created);
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: created.version, ...(details ? { details } : {}) });
  if (how.published) yield* how.published(f, created.version);
  yield* waitPropagation(f);
  if (how.validate) yield* how.validate(f, created.version);
  const promoted = yield* step<{ previousPrimary?: string }>(f, A.promoteVersion, { rotationId: input.rotationId, keyId: input.keyId, version: created.version, at: nowIso(ctx) });
  const versionBefore = promoted.previousPrimary ?? kc.primaryVersion;
  setPhase(f, "promoted");
  if (versionBefore && how.promoted) yield* how.promoted(f, versionBefore);
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: created.version, ...(versionBefore ? { versionBefore } : {}) });
  return { created, ...(versionBefore ? { versionBefore } : {}) };
}

/** A flow's result for a rollout. */
export const rolledOut = (r: { created: Created; versionBefore?: string }): { versionAfter: string; versionBefore?: string } =>
  ({ versionAfter: r.created.version, ...(r.versionBefore ? { versionBefore: r.versionBefore } : {}) });
