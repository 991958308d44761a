// Which old versions the policy timer hands to the retirement workflow. A secondary version is
// eligible once its dual-running time, counted from its demotion, is over (overlap; for signing keys retainFor, so verifiers
// keep it as long as tokens signed with it live) and, for a KEK, once no DEK references it. The
// workflow proves the zero count again under the key's lock before it disables anything: this
// pre-check only keeps the timer from starting work that would change nothing.
import { rotationIds, type ManagedKey } from "../domain/keys";
import { dualRunningMs, policyKey, type Policy } from "../domain/policy";
import { retirementCandidates } from "../domain/versions";

/** The deterministic id of the retirement that `version` (the newest eligible one) names: a timer
 * firing twice finds its own instance, and a version is handed to retirement at most once. */
export function retirementId(keyId: string, version: string): string {
  return rotationIds.retirement(keyId, version);
}

/** Secondary versions past their overlap (signing: retainFor) whose references are zero, oldest
 * first. `references`: DEKs per KEK version (KEKs only; undefined = not known here). */
export function eligibleForRetirement(key: ManagedKey, policy: Policy, now: Date, references?: Record<string, number>): string[] {
  if (key.kind === "dek") return [];
  const waits = dualRunningMs(policy, key.kind);
  return retirementCandidates(key.versions, now.toISOString(), key.kind === "signing" ? waits.retainForMs : waits.overlapMs)
    .filter((v) => v.version !== key.primaryVersion && (references?.[v.version] ?? 0) === 0)
    .map((v) => v.version);
}

/** The key's policy as the rotation engine resolves it: (tenant, policyId); none = no retirement. */
export function policyOf(key: ManagedKey, policies: ReadonlyMap<string, Policy>): Policy | undefined {
  return key.policyId === undefined ? undefined : policies.get(policyKey(key.tenant, key.policyId));
}
