// Rollback: re-promotes the previous version within the rollback window. The newer version stays
// enabled (secondary): nothing written under it becomes unreadable. A provider secret's rolled-back
// credential stays valid until the next rotation, which retires it first and regenerates its slot
// (flows/secret.ts; the rule is claimSlot in lib/domain/secretProviders.ts), or until retirement
// after its overlap, whichever comes first.
import type { OrchestrationContext, Task } from "durable-functions";
import { rollbackTarget, withinRollbackWindow } from "../../domain/rotation";
import { DURABLE } from "../names";
import { flowError, nowIso, rec, setPhase, step, underLock } from "./frame";
import { maintenanceInput, MaintenanceInputSchema, type RotationOutput } from "./types";

const A = DURABLE.activities;

export function* rollbackOrchestrator(ctx: OrchestrationContext): Generator<Task, RotationOutput, unknown> {
  const pinned = MaintenanceInputSchema.parse(ctx.df.getInput());
  const input = maintenanceInput(pinned);
  const keyId = input.keyId;
  return yield* underLock(ctx, input, function* (f, kc) {
    const primary = kc.versions.find((v) => v.state === "primary");
    const target = pinned.rollbackTo !== undefined ? kc.versions.find((v) => v.version === pinned.rollbackTo) : rollbackTarget(kc.versions);
    if (!primary || !target) throw flowError("invalidRequest", "NothingToRollBack", `${keyId} has no previous version to re-promote`);
    if (pinned.rollbackFrom !== undefined && primary.version !== pinned.rollbackFrom) {
      throw flowError("invalidRequest", "Superseded", `${keyId}'s primary is ${primary.version}, not ${pinned.rollbackFrom}: a later rotation superseded the one rolled back`);
    }
    // Before any key-ops change: a revoked (compromised) or retired version never serves again.
    if (target.state === "revoked" || target.state === "retired") {
      throw flowError("invalidRequest", "VersionRevoked", `${keyId} version ${target.version} is ${target.state}; a rollback never re-promotes it`);
    }
    if (!withinRollbackWindow(primary.createdAt, nowIso(ctx), kc.policy.rollbackWindowMs)) {
      throw flowError("invalidRequest", "RollbackWindowClosed", `the primary of ${keyId} is older than its rollback window`);
    }
    if (kc.kind === "signing") yield* step(f, A.setKeyOps, { keyId, version: target.version, keyOps: ["sign", "verify"] });
    yield* step(f, A.promoteVersion, { rotationId: input.rotationId, keyId, version: target.version, at: nowIso(ctx), rollback: true });
    if (kc.kind === "signing") {
      yield* step(f, A.setKeyOps, { keyId, version: primary.version, keyOps: ["verify"] });
      yield* step(f, A.publishJwks, { keyId });
    }
    setPhase(f, "promoted");
    yield* rec(f, "rolledBack", "RolledBack", "RolledBack", { versionBefore: primary.version, versionAfter: target.version });
    return { versionBefore: primary.version, versionAfter: target.version };
  });
}
