// A tenant's DEK rotation: one activity makes the new DEK (wrapped under the KEK's primary) the
// tenant's primary; the old one stays readable (secondary).
import type { Task } from "durable-functions";
import { DURABLE } from "../names";
import { nowIso, rec, setPhase, step, type Flow, type FlowResult } from "./frame";

export function* dekFlow(f: Flow): Generator<Task, FlowResult, unknown> {
  const { ctx, input } = f;
  const tenant = input.keyId.slice("dek:".length);
  const r = yield* step<{ dekVersion: string; previous?: string; kekVersion: string; reused: boolean }>(f, DURABLE.activities.rotateTenantDek, {
    rotationId: input.rotationId, tenant, at: nowIso(ctx), ...(input.kekKeyId ? { kekKeyId: input.kekKeyId } : {}),
  });
  const before = r.previous ? { versionBefore: r.previous } : {};
  setPhase(f, "versionCreated");
  yield* rec(f, "versionCreated", "VersionCreated", "VersionCreated", { versionAfter: r.dekVersion, details: { kekVersion: r.kekVersion } });
  setPhase(f, "promoted");
  yield* rec(f, "promoted", "Promoted", "Promoted", { versionAfter: r.dekVersion, ...before });
  return { versionAfter: r.dekVersion, ...before };
}
