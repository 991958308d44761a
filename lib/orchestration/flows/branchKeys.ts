// Branch-key rotation of a KEK with branch keys (POST /api/rotations {keyId: <kek>, branchKeys}, or
// the branch-key schedule): under the KEK's lock, but NO new KEK version. Each asked branch key gets
// a new version wrapped locally under the KEK's CURRENT primary version (the record signed once,
// remotely, as every record is at creation), its DEKs re-wrapped locally tenant partition by tenant
// partition (one remote unwrap: the old version), and the old versions destroyed once ONE count
// over the KEK's DEKs proves none is referenced: all asked branch keys are one run
// (lib/hierarchy/workflows.ts rotateBranchKeys), so that whole-table count is paid once per rotation.
import type { Task } from "durable-functions";
import type { HierarchySlice } from "../../hierarchy/durableActivities";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { flowError, rec, setPhase, step, type Flow, type FlowResult } from "./frame";

const A = DURABLE.activities;

/** The counts of hierarchy runs as their slices report them. A slice answers its run's RUNNING
 * totals (the checkpoint's), so summing slices counts a run that took several slices more than
 * once: the latest answer per run counts, summed across runs. */
export class RunCounts {
  private readonly latest = new Map<string, Record<string, number>>();
  private unnamed = 0;

  add(slice: Pick<HierarchySlice, "counts" | "run">): void {
    // An answer recorded before slices named their run (history of an older deployment) counts on its own, as it did then.
    this.latest.set(slice.run ?? `~unnamed-${this.unnamed++}`, slice.counts);
  }

  get total(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const counts of this.latest.values()) for (const [k, v] of Object.entries(counts)) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}

/** The asked branch keys rotated under `kekVersion`: one hierarchyBranchRotation call per slice (the
 * rotation's one run over all of them), until it is done. */
export function* branchKeysRotated(f: Flow, kekVersion: string): Generator<Task, Record<string, number>, unknown> {
  const i = f.input;
  const scope = i.branchKeys && i.branchKeys !== true ? i.branchKeys : {};
  const runs = new RunCounts();
  for (;;) {
    const slice = yield* step<HierarchySlice>(f, A.hierarchyBranchRotation, { rotationId: i.rotationId, keyId: i.keyId, kekVersion, actor: i.actor, ...scope });
    runs.add(slice);
    setPhase(f, "rewrapping", { rewrapped: runs.total.dekRowsWritten ?? 0, scanned: 0 });
    if (!slice.more) break;
  }
  const counts = runs.total;
  yield* rec(f, "branchKeysRotated", "RewrapProgress", undefined, { counts, details: { hierarchy: "branch-rotation", kekVersion } });
  return counts;
}

/** The rotation's whole body for a `branchKeys` request. The result carries no versionBefore or
 * versionAfter: the KEK keeps its versions (the ledger's entries name the KEK version the new
 * branch-key versions are wrapped under, details.kekVersion). */
export function* branchKeyFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  const kekVersion = kc.primaryVersion;
  if (!kekVersion) throw flowError("invariantViolation", "KekWithoutPrimary", `${f.input.keyId} has no primary version to wrap new branch-key versions under; nothing was changed`);
  setPhase(f, "rewrapping", { rewrapped: 0, scanned: 0 });
  const counts = prefixed(yield* branchKeysRotated(f, kekVersion));
  setPhase(f, "rewrapped");
  yield* rec(f, "rewrapped", "RewrapCompleted", undefined, { counts, details: { hierarchy: "branch-rotation", kekVersion } });
  return { counts };
}

/** The hierarchy's counts under names of their own (beside a flat rewrap's, in a KEK rotation). */
export function prefixed(counts: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts ?? {})) out[`hierarchy.${k}`] = v;
  return out;
}
