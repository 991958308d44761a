// The activity registry: parse → one lib call → map, for every rotation activity, with the
// dependencies the caller hands in (the composition, lib/compose.ts). The functions/ files stay
// thin, and every activity error crosses history in one format (toHistoryError). Telemetry wraps
// each run from ./activityTelemetry.
import { z } from "zod";
import { InvalidRequestError, InvariantViolationError, toHistoryError } from "../domain/errors";
import * as a from "./activities";
import { observeActivity, recordStepObserved } from "./activityTelemetry";
import { checkFence, claimFence, FENCED_ACTIVITIES, fenceFloor, FenceInput } from "./fence";
import type { RotationDeps } from "./ports";
import { DURABLE } from "./names";
import { validateVersion, validationDepsOf, ValidateVersionInput } from "../validation/activity";
import { rewrapRange, RewrapRangeInput, type RewrapDeps } from "./rewrap";
import { countAllReferences } from "../hierarchy/durableCounts";
import { hierarchyBranchRotation, HierarchyBranchRotationInput, hierarchyEmergency, HierarchyEmergencyInput, hierarchyKekRotation, HierarchyKekRotationInput, hierarchyMigration, HierarchyMigrationInput } from "../hierarchy/durableActivities";
import type { HierarchyRuntime } from "../hierarchy/durableRuntime";

export { activityTelemetryContext, observeActivity } from "./activityTelemetry";

/** What an activity runs with. */
export interface ActivityDeps {
  rotation: RotationDeps;
  rewrap: RewrapDeps;
  /** The key hierarchy's stores and keys (lib/hierarchy/durableRuntime.ts); absent over memory
   * adapters, where no KEK has branch keys. */
  hierarchy?: HierarchyRuntime;
}

type ActivityName = keyof typeof DURABLE.activities;
interface Entry<S extends z.ZodType> {
  schema: S;
  run: (deps: ActivityDeps, input: z.output<S>) => Promise<unknown>;
}
/** An activity over the rotation ports. */
const entry = <S extends z.ZodType>(schema: S, run: (deps: RotationDeps, input: z.output<S>) => Promise<unknown>): Entry<S> => ({ schema, run: (d, i) => run(d.rotation, i) });

/** An activity that needs more than the rotation ports (the rewrap has its own adapters). */
const withBoth = <S extends z.ZodType>(schema: S, run: Entry<S>["run"]): Entry<S> => ({ schema, run });

/** claimFence: the grant the orchestrator just received, for the key's fence row. */
const ClaimFenceInput = z.object({ keyId: z.string().min(1).max(512), owner: z.string().min(1).max(512), token: z.number().int().positive() });
/** readFence: the highest token recorded for a key, the floor of its next grant. */
const ReadFenceInput = z.object({ keyId: z.string().min(1).max(512) });

const ACTIVITIES: { [K in ActivityName]: Entry<z.ZodType> } = {
  loadRotationContext: entry(a.LoadContextInput, a.loadRotationContext),
  recordStep: entry(a.RecordStepInput, recordStepObserved),
  createKeyVersion: entry(a.CreateVersionInput, a.createKeyVersion),
  createSecretVersion: entry(a.CreateVersionInput, a.createSecretVersion),
  promoteVersion: entry(a.PromoteInput, a.promoteVersion),
  listTenants: entry(a.ListTenantsInput, a.listTenants),
  rewrapRange: withBoth(RewrapRangeInput, (d, i) => rewrapRange(d.rewrap, i)),
  // Flat DEKs and branch-key records alike: a KEK version still wrapping a branch key is referenced.
  countReferences: withBoth(a.CountReferencesInput, (d, i) => countAllReferences(d.rotation, d.hierarchy?.store, i)),
  disableVersion: entry(a.DisableVersionInput, a.disableVersion),
  // A KEK with branch keys gets format-2 DEKs: the hierarchy runtime decides.
  rotateTenantDek: withBoth(a.RotateTenantDekInput, (d, i) => a.rotateTenantDek(d.rotation, i, d.hierarchy)),
  publishJwks: entry(a.PublishJwksInput, a.publishJwks),
  setKeyOps: entry(a.SetKeyOpsInput, a.setKeyOps),
  sealLedger: entry(a.SealInput, (d, i) => a.sealLedger(d, i)),
  claimFence: entry(ClaimFenceInput, (d, i) => claimFence(d.fences, i.keyId, { owner: i.owner, token: i.token })),
  readFence: entry(ReadFenceInput, (d, i) => fenceFloor(d.fences, i.keyId)),
  validateVersion: entry(ValidateVersionInput, (d, i) => validateVersion(validationDepsOf(d), i)),
  hierarchyKekRotation: withBoth(HierarchyKekRotationInput, (d, i) => hierarchyKekRotation(d.rotation, d.hierarchy, i)),
  hierarchyEmergency: withBoth(HierarchyEmergencyInput, (d, i) => hierarchyEmergency(d.rotation, d.hierarchy, i)),
  hierarchyMigration: withBoth(HierarchyMigrationInput, (d, i) => hierarchyMigration(d.rotation, d.hierarchy, i)),
  hierarchyBranchRotation: withBoth(HierarchyBranchRotationInput, (d, i) => hierarchyBranchRotation(d.rotation, d.hierarchy, i)),
};

/** Runs one activity by its key in DURABLE.activities; a mutating one only under the latest grant
 * of its key's lock. */
export async function runActivity(name: ActivityName, raw: unknown, deps: ActivityDeps): Promise<unknown> {
  const e = ACTIVITIES[name];
  return observeActivity(name, raw, async () => {
    try {
      const parsed = e.schema.safeParse(raw ?? {});
      if (!parsed.success) throw new InvalidRequestError("ActivityInputInvalid", `[keyrotor] [rotation] ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
      await admitFenced(name, raw, deps.rotation);
      return await e.run(deps, parsed.data);
    } catch (err) {
      throw toHistoryError(err);
    }
  });
}

// ---- fencing: a lock grant's token is checked before every mutating step ----------------------

/** The managed key whose lock guards an activity's input: a tenant's DEK rotation is locked on the
 * tenant's DEK (the KEK it names is only what it wraps under), the rewrap on its KEK. */
function lockedKeyOf(name: ActivityName, o: Record<string, unknown>): string | undefined {
  const s = (k: string): string | undefined => (typeof o[k] === "string" && o[k] !== "" ? o[k] : undefined);
  if (name === "rotateTenantDek") {
    const tenant = s("tenant");
    return tenant ? `dek:${tenant}` : undefined;
  }
  return name === "rewrapRange" ? s("kekKeyId") : s("keyId");
}

/** Refuses a fenced activity (FENCED_ACTIVITIES) without a fence, or whose grant is no longer the
 * latest recorded for its key. */
export async function admitFenced(name: ActivityName, raw: unknown, deps: RotationDeps): Promise<void> {
  if (!FENCED_ACTIVITIES.has(DURABLE.activities[name])) return;
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  // The rewrap's plan and tenant pages only read.
  if (name === "rewrapRange" && o.op !== undefined && o.op !== "range") return;
  const keyId = lockedKeyOf(name, o);
  if (!keyId) throw new InvalidRequestError("ActivityInputInvalid", `[keyrotor] [rotation] ${name}: names no key`);
  const fence = FenceInput.safeParse(o.fence);
  if (!fence.success) {
    throw new InvariantViolationError("Unfenced", `[keyrotor] [lock] ${name} changes ${keyId} and must carry the grant of the key's lock it acts under (fence: {owner, token})`);
  }
  await checkFence(deps.fences, keyId, fence.data);
}
