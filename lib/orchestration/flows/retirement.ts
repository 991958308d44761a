// Retirement: disables secondary versions whose overlap (retainFor for signing keys) is over, each
// only with a zero-reference proof. Same lock and frame as rotations.
import type { OrchestrationContext, Task } from "durable-functions";
import { retirementCandidates } from "../../domain/rotation";
import { DURABLE } from "../names";
import { nowIso, rec, step, underLock } from "./frame";
import { countRefs } from "./kek";
import { maintenanceInput, MaintenanceInputSchema, type RotationOutput } from "./types";

const A = DURABLE.activities;

export function* retirementOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const input = maintenanceInput(MaintenanceInputSchema.parse(ctx.df.getInput()));
  return yield* underLock(ctx, input, function* (f, kc) {
    const waitMs = kc.kind === "signing" ? kc.policy.retainForMs : kc.policy.overlapMs;
    const candidates = kc.kind === "dek" ? [] : retirementCandidates(kc.versions, nowIso(ctx), waitMs);
    const counts = { candidates: candidates.length, retired: 0, kept: 0 };
    for (const v of candidates) {
      const refs = kc.kind === "kek" ? (yield* countRefs(f, kc.primaryVersion ?? "")).byVersion[v.version] ?? 0 : 0;
      if (refs > 0) {
        counts.kept++;
        continue;
      }
      yield* step(f, A.disableVersion, { rotationId: input.rotationId, keyId: input.keyId, version: v.version, state: "retired" });
      yield* rec(f, `retired:${v.version}`, "Retired", "Retired", { versionBefore: v.version, counts: { references: 0 } });
      counts.retired++;
    }
    if (kc.kind === "signing" && counts.retired > 0) yield* step(f, A.publishJwks, { keyId: input.keyId });
    return { counts };
  });
}
