// The scheduled branch-key rotation of a KEK (policy branchKeys.every), as the policy timer starts it
// and the plan shows it: the planner decides from the primary branch keys' ages (and the policy's
// windows, freezes and status, like the key's own rotation); this reads the ages and shapes the
// rotation request the same starter as POST /api/rotations runs.
import type { ManagedKey } from "../domain/keys";
import type { BranchKeysDue, Planner } from "../domain/planner";
import type { Policy } from "../domain/policy";
import type { RotationRequest } from "../orchestration/workflows";
import type { ApiServices } from "./ports";

/** The KEK's next (or due) branch-key rotation, or undefined when its policy (active, kind kek) sets
 * no branchKeys.every, the app has no branch-key store or the KEK has no branch keys. Reads the
 * branch-key store only for such KEKs. */
export async function branchKeysPlanOf(s: ApiServices, planner: Planner, key: ManagedKey, policy: Policy | undefined): Promise<BranchKeysDue | undefined> {
  if (!s.branchKeys || key.kind !== "kek" || !policy?.branchKeys || policy.status !== "active" || !policy.kinds.includes("kek")) return undefined;
  return planner.planBranchKeys(key, await s.branchKeys.primaries(key.keyId));
}

/** The rotation of the due branch keys only (no new KEK version), named by the due period. */
export function branchKeysRotationRequest(keyId: string, due: BranchKeysDue, actor: string): RotationRequest {
  const more = due.dueCount > due.branchIds.length ? ` (${due.dueCount - due.branchIds.length} more next time)` : "";
  return {
    rotationId: due.rotationId, keyId, trigger: "schedule", actor,
    reason: `scheduled branch-key rotation: ${due.branchIds.length} branch key(s) older than ${due.every}${more}, slot ${due.slot}`,
    branchKeys: { branchIds: due.branchIds },
  };
}
