// The hierarchy's workflows as activities of the durable KEK flow (lib/orchestration/flows/kek.ts):
// hierarchyKekRotation (rotateKek: the branch keys re-wrapped under the new KEK version, DEK rows
// untouched) and hierarchyEmergency (emergency: new branch keys under the new version, every DEK
// re-wrapped locally, the old branch keys destroyed). Both are fenced (the lock's grant is checked
// on admission and again after every step) and run in bounded slices: a call returns once its time
// is up with `more: true`, the workflow's checkpoint row holding where it stands, and the flow
// calls again. What crosses orchestration history is ids and counts only.
//
// What the flow keeps for itself: the revoke of the compromised KEK version (revokeVersion: the
// two-person rule, the zero-reference count, the Revoked ledger entry). The workflow is given no
// revokeKekVersion, so its own revoke step only decides; the flow counts again and acts.
import { createHash } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import { z } from "zod";
import { InvalidRequestError, InvariantViolationError } from "../domain/errors";
import type { BranchKeyEvent } from "../envelope/branchKeyCache";
import { dropCachedKeysDetails } from "../envelope/branchKeyCache";
import { recordStep } from "../orchestration/activities";
import { BranchIdSchema, type BranchKeysScope } from "../orchestration/flows/types";
import { checkFence, FenceInput } from "../orchestration/fence";
import type { RotationDeps } from "../orchestration/ports";
import type { HierarchyRuntime } from "./durableRuntime";
import { DekStore } from "../stores/dekStore";
import type { BranchKeyStore } from "./branchKeyStore";
import { emergency, migrateFlat, rotateBranchKeys, rotateKek, type HierarchyDeps, type RunOptions, type RunState } from "./workflows";

const id = z.string().min(1).max(512);
const version = z.string().min(1).max(64);

/** What every hierarchy activity is called with: the rotation, the KEK (the key the flow holds the
 * lock of), who asked, and the lock's grant. */
const HierarchyCallInput = z.object({
  rotationId: id,
  keyId: id,
  actor: z.string().min(1),
  fence: FenceInput.optional(),
});

export const HierarchyKekRotationInput = HierarchyCallInput.extend({
  newVersion: version,
});

export const HierarchyEmergencyInput = HierarchyKekRotationInput.extend({
  /** The compromised KEK version: the flow's revoke target. */
  compromisedVersion: version,
  /** The approval's flag: every tenant also gets a new DEK version (consumers re-encrypt). */
  newDekVersions: z.boolean().optional(),
});

export const HierarchyMigrationInput = HierarchyCallInput.extend({
  /** The KEK version new branch keys are wrapped under (the flow's new primary). */
  kekVersion: version,
  /** Where this slice's page of tenants starts (the flat tenant index's continuation). */
  cursor: z.string().min(1).max(4096).optional(),
  /** Tenants one slice migrates. */
  pageSize: z.number().int().min(1).max(1000).default(50),
});

/** Branch-key rotation (every branch key of the KEK, or the branch keys of the named tenants): each
 * gets a new version under `kekVersion`, its DEKs re-wrapped locally, the old version destroyed. */
export const HierarchyBranchRotationInput = HierarchyCallInput.extend({
  /** The KEK version the new branch-key versions are wrapped under (the flow's new primary). */
  kekVersion: version,
  /** Absent (and no branchIds): every branch key of the KEK. Else the branch keys these tenants are assigned to. */
  tenants: z.array(z.string().min(1).max(512)).min(1).max(1000).optional(),
  /** The named branch keys of the KEK (ids as the branch-key store names them). */
  branchIds: z.array(BranchIdSchema).min(1).max(1000).optional(),
}).refine((i) => !(i.tenants && i.branchIds), "name tenants or branchIds, not both");

/** One slice's answer: where the run stands, counts only. */
export interface HierarchySlice {
  more: boolean;
  step: string;
  /** The run's RUNNING totals (its checkpoint's): a run that takes several slices answers them
   * each time, so the flow keeps the latest per run and sums across runs. */
  counts: Record<string, number>;
  /** The run the counts are of (absent when the call found nothing left to do). */
  run?: string;
  /** The workflow's own revoke decision (emergency; informative: the flow decides and acts). */
  outcome?: string;
}

type Kind = "kek-rotation" | "emergency" | "migration" | "branch-rotation";

/** Thrown from a step hook once the slice's time is up: the checkpoint of the step is saved. */
class SliceEnd extends Error {}

/** The workflow's run id: one per rotation and kind, so a retried or resumed slice finds its
 * checkpoint and an emergency and a rotation of the same id never share one. */
export const hierarchyRunId = (rotationId: string, kind: Kind): string => `${rotationId}#hierarchy-${kind}`;

export async function hierarchyKekRotation(deps: RotationDeps, rt: HierarchyRuntime | undefined, input: z.output<typeof HierarchyKekRotationInput>): Promise<HierarchySlice> {
  return sliced(deps, rt, input, "kek-rotation", (d, o) => rotateKek(d, { runId: hierarchyRunId(input.rotationId, "kek-rotation"), kekKeyId: input.keyId, newKekVersion: input.newVersion }, o));
}

export async function hierarchyEmergency(deps: RotationDeps, rt: HierarchyRuntime | undefined, input: z.output<typeof HierarchyEmergencyInput>): Promise<HierarchySlice> {
  const req: Parameters<typeof emergency>[1] = {
    runId: hierarchyRunId(input.rotationId, "emergency"), kekKeyId: input.keyId, compromisedVersion: input.compromisedVersion, newKekVersion: input.newVersion,
    ...(input.newDekVersions === true ? { newDekVersions: true } : {}),
  };
  return sliced(deps, rt, input, "emergency", (d, o) => emergency(d, req, o));
}

/** Format-1 DEKs of the KEK moved under branch keys, one page of the flat tenant index per call: the
 * page's own run (checkpoint) migrates its tenants, and the answer's cursor is where the next page
 * starts. A tenant is migrated whole (format 2 written, then format 1 deleted), so a crash or
 * retry of a page re-reads it and writes nothing twice. */
export async function hierarchyMigration(deps: RotationDeps, rt: HierarchyRuntime | undefined, input: z.output<typeof HierarchyMigrationInput>): Promise<HierarchySlice & { cursor?: string }> {
  const flatTable = rt?.flatTable;
  if (!rt?.flat || !flatTable) throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] migrating ${input.keyId} needs the format-1 DEK table`);
  const page = await rt.flat.listTenants({ limit: input.pageSize, ...(input.cursor ? { continuation: input.cursor } : {}) });
  const pageId = createHash("sha256").update(input.cursor ?? "first").digest("hex").slice(0, 16);
  const runId = `${hierarchyRunId(input.rotationId, "migration")}~${pageId}`;
  const out = await sliced(deps, { ...rt, flat: new TenantsPage(flatTable, page.items) }, input, "migration", (d, o) => migrateFlat(d, { runId, kekKeyId: input.keyId, kekVersion: input.kekVersion }, o), { runId, label: `migration~${pageId}` });
  // A page is one step: its slice ends when the page is migrated, and the flow goes on from the cursor.
  if (out.more) return out;
  return { ...out, more: page.continuation !== undefined, ...(page.continuation ? { cursor: page.continuation } : {}) };
}

/** The rotation's asked branch keys in ONE run (its plan holds them all, so the whole-table count
 * that proves no DEK is left under an old version is paid once per rotation), sliced like an
 * emergency: `more` until the run is done. The scope is resolved (and refused with a 4xx) when the
 * run is planned; a planned run goes on from its checkpoint. Counts are the run's running totals. */
export async function hierarchyBranchRotation(deps: RotationDeps, rt: HierarchyRuntime | undefined, input: z.output<typeof HierarchyBranchRotationInput>): Promise<HierarchySlice> {
  if (!rt) throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] rotating the branch keys of ${input.keyId} needs the branch-key tables`);
  const runId = hierarchyRunId(input.rotationId, "branch-rotation");
  const saved = await rt.store.run<RunState>(runId);
  if (saved?.state.done) return { ...sliceOf(saved.state), run: runId };
  const branchIds = saved && saved.state.step !== "plan" ? [] : await branchesToRotate(rt.store, input);
  return sliced(deps, rt, input, "branch-rotation", (d, o) => rotateBranchKeys(d, { runId, kekKeyId: input.keyId, kekVersion: input.kekVersion, branchIds }, o));
}

/** The branch ids a rotation plans, sorted; a named tenant without a branch key, a named branch id
 * the KEK has no version of, or a KEK with no branch key at all is the caller's mistake (4xx),
 * found before anything is changed (the API asks the same before it starts a rotation). */
export async function branchesToRotate(store: Pick<BranchKeyStore, "versions" | "all" | "assignment">, input: Pick<z.output<typeof HierarchyBranchRotationInput>, "keyId" | "tenants" | "branchIds">): Promise<string[]> {
  if (input.branchIds) {
    const unknown: string[] = [];
    for (const branchId of new Set(input.branchIds)) if ((await store.versions(input.keyId, branchId)).length === 0) unknown.push(branchId);
    if (unknown.length > 0) {
      throw new InvalidRequestError("BranchKeyUnknown", `[keyrotor] [hierarchy] ${input.keyId} has no branch key ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ""}; nothing was rotated`, { field: "branchKeys.branchIds" });
    }
    return [...new Set(input.branchIds)].sort();
  }
  if (!input.tenants) {
    const all = [...new Set((await store.all(input.keyId)).map((r) => r.branchId))].sort();
    if (all.length === 0) throw new InvalidRequestError("KekHasNoBranchKeys", `[keyrotor] [hierarchy] ${input.keyId} has no branch keys to rotate; nothing was rotated`, { field: "branchKeys" });
    return all;
  }
  const ids = new Set<string>();
  for (const tenant of input.tenants) {
    const a = await store.assignment(input.keyId, tenant);
    if (!a) throw new InvalidRequestError("TenantHasNoBranchKey", `[keyrotor] [hierarchy] tenant ${tenant} has no branch key under ${input.keyId}`, { field: "branchKeys.tenants" });
    ids.add(a.branchId);
  }
  return [...ids].sort();
}

/** The API's check of a branch-key rotation's scope before it starts (the same rules as the run's). */
export function branchScopeCheck(store: Pick<BranchKeyStore, "versions" | "all" | "assignment">): { check(kekKeyId: string, scope: BranchKeysScope): Promise<void> } {
  return {
    check: async (kekKeyId, scope) => {
      await branchesToRotate(store, { keyId: kekKeyId, ...(scope === true ? {} : scope) });
    },
  };
}

/** The flat DEK store seen through one page of its tenant index (what migrateFlat iterates). */
class TenantsPage extends DekStore {
  constructor(client: TableClient, private readonly page: readonly string[]) {
    super(client);
  }

  override async *tenants(): AsyncIterable<string> {
    await Promise.resolve();
    yield* this.page;
  }
}

async function sliced(
  deps: RotationDeps, rt: HierarchyRuntime | undefined, input: { rotationId: string; keyId: string; actor: string; fence?: { owner: string; token: number } | undefined }, kind: Kind,
  run: (d: HierarchyDeps, o: RunOptions) => Promise<RunState>,
  names: { runId: string; label: string } = { runId: hierarchyRunId(input.rotationId, kind), label: kind },
): Promise<HierarchySlice> {
  const keys = rt?.keys;
  if (!rt || !keys) {
    throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] ${input.keyId} has branch keys, but no branch-key signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID): they cannot be opened or re-wrapped; nothing was changed`);
  }
  const started = Date.now();
  const at = () => deps.clock.now().toISOString();
  const entry = { rotationId: input.rotationId, keyId: input.keyId, actor: input.actor } as const;
  const d: HierarchyDeps = {
    keys, deks: rt.deks, kek: rt.kek,
    ...(rt.flat ? { flat: rt.flat } : {}), ...(rt.flatTable ? { flatTable: rt.flatTable } : {}), ...(rt.flatAuth ? { flatAuth: rt.flatAuth } : {}),
    publish: (e) => recordDrop(deps, input, kind, e),
    onStep: async (_runId, step, counts, next) => {
      // One ledger entry per workflow step (idempotent by entryId: a resumed run writes none twice).
      await recordStep(deps, { ...entry, step: `hierarchy-${names.label}:${step}`, type: "RewrapProgress", at: at(), counts: { ...counts }, details: { hierarchyStep: step } });
      // A lock taken over while this slice ran stops it after the step it finished: every mutating step checks its lock grant.
      if (input.fence) await checkFence(deps.fences, input.keyId, input.fence);
      // Never after the last step: what follows it, the consumers' drop events, must run. (A
      // branch-key rotation's creation and re-wrap of one branch key are one step, replace.)
      if (next !== "done" && Date.now() - started >= rt.sliceMs) throw new SliceEnd();
    },
    // Within the one long step, an emergency's DEK re-wrap or a branch-key rotation's replace, a
    // slice also ends at a checkpoint: each save there records the pages or branch keys done, so
    // every slice moves on (a branch-key rotation's replace starts no new branch key once a save
    // ended the slice and saves again when the ones in flight are done: the next slice re-opens no
    // key). Not in a KEK rotation, whose save after the proof of its sample does not (the sample's
    // wraps are not kept); its steps are bounded by B anyway.
    ...(kind === "emergency" || kind === "branch-rotation" ? {
      onSave: async () => {
        // A branch-key rotation's replace step creates versions all along (one per branch key, each
        // followed by a save): its lock grant is checked there, as after every step.
        if (kind === "branch-rotation" && input.fence) await checkFence(deps.fences, input.keyId, input.fence);
        if (Date.now() - started >= rt.sliceMs) throw new SliceEnd();
      },
    } : {}),
  };
  try {
    const state = await run(d, { ratePerSec: rt.ratePerSec });
    if (state.done && kind !== "migration") await recordDrop(deps, input, kind, { type: kind === "emergency" || kind === "branch-rotation" ? "BranchKeysDestroyed" : "BranchKeysRotated", kekKeyId: input.keyId });
    return { ...sliceOf(state), run: names.runId };
  } catch (err) {
    if (!(err instanceof SliceEnd)) throw err;
    const saved = await keys.store.run<RunState>(names.runId);
    if (!saved) throw new InvariantViolationError("HierarchyCheckpointMissing", `[keyrotor] [hierarchy] run ${names.runId} ended a slice without a checkpoint`);
    return { ...sliceOf(saved.state), more: !saved.state.done, run: names.runId };
  }
}

function sliceOf(s: RunState): HierarchySlice {
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.counts)) if (Number.isFinite(v)) counts[k] = v;
  return { more: !s.done, step: s.step, counts, ...(s.outcome ? { outcome: s.outcome } : {}) };
}

/** The consumers' signal to drop cached branch keys and DEKs: a ledger entry and its event,
 * carrying dropCachedKeys (lib/envelope/branchKeyCache.ts reads it). One per kind of event and
 * scope in a run, whatever the number of slices or retries. */
async function recordDrop(deps: RotationDeps, input: { rotationId: string; keyId: string; actor: string }, kind: string, e: BranchKeyEvent): Promise<void> {
  const scope = e.branchIds ? `some-${e.branchIds.length}` : "all";
  await recordStep(deps, {
    rotationId: input.rotationId, keyId: input.keyId, actor: input.actor, step: `hierarchy-${kind}:event:${e.type}:${scope}`,
    type: "RewrapProgress", event: "RewrapProgress", at: deps.clock.now().toISOString(), details: dropCachedKeysDetails(e),
  });
}
