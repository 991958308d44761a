// A retried tenant DEK rotation (the durable DEK flow's rotateTenantDek) that finds the format-2 DEK
// its earlier attempt wrote: that attempt may have ended between the write and its check (see
// HierarchyDeks.settle), so the DEK's branch-key version may have been demoted or destroyed by an
// emergency or a branch-key rotation since. It is reported as this rotation's DEK only once it sits
// under a live primary version.
import { InvariantViolationError } from "../domain/errors";
import { HierarchyDeks } from "./deks";
import type { StoredHierarchyDek } from "./dekStore";
import type { HierarchyRuntime } from "./durableRuntime";

/** The KEK version the DEK's (primary) branch-key version is wrapped under, after re-wrapping the
 * DEK under its branch key's current primary version when its own was demoted (one remote unwrap of
 * each version, rare); undefined when its version is destroyed: the DEK can no longer be opened and
 * the rotation makes a new version instead of reporting this one. The common case reads one row. */
export async function settleRotatedDek(rt: HierarchyRuntime, dek: StoredHierarchyDek): Promise<{ kekVersion: string } | undefined> {
  if (!rt.keys) {
    throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] tenant ${dek.tenant} has format-2 DEKs, but no branch-key signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID); nothing was changed`);
  }
  const settled = await new HierarchyDeks(rt.keys, rt.deks).settle(dek.tenant, dek.dekId, undefined, dek);
  return settled && { kekVersion: settled.branch.kekVersion };
}
