// A tenant's DEK rotation (the durable DEK flow's rotateTenantDek) for a KEK that has branch keys:
// the new DEK version is a format-2 DEK under the tenant's branch key, wrapped locally, so a
// quarterly DEK rotation keeps the tenant in the hierarchy instead of writing a flat DEK (one
// remote wrap under the KEK) that the next KEK rotation would have to unwrap remotely again.
import { InvariantViolationError } from "../domain/errors";
import { HierarchyDeks } from "./deks";
import type { HierarchyRuntime } from "./durableRuntime";
import type { StoredHierarchyDek } from "./dekStore";

/** Every format-2 DEK of a tenant (few per tenant: one per DEK version). */
export async function hierarchyTenantDeks(rt: HierarchyRuntime, tenant: string): Promise<StoredHierarchyDek[]> {
  const out: StoredHierarchyDek[] = [];
  for (let c: string | undefined, first = true; first || c; first = false) {
    const page = await rt.deks.scan(tenant, c);
    out.push(...page.items);
    c = page.continuation;
  }
  return out;
}

/** True when the KEK has branch-key records: its tenants' new DEKs go under branch keys (what the
 * KEK flow decides by, its reference count's branch keys). */
export async function kekHasBranchKeys(rt: HierarchyRuntime, kekKeyId: string): Promise<boolean> {
  return (await rt.store.all(kekKeyId)).length > 0;
}

/** Creates the tenant's new primary DEK (version `dekVersion`) under its branch key, marked with
 * the rotation id (`rotationRun`: a retried activity finds it and makes none twice). New branch keys
 * are wrapped under `kekVersion` (the KEK's primary). Returns the KEK version the DEK's branch key
 * is wrapped under. One remote unwrap at most (the branch key's), none per DEK. */
export async function rotateHierarchyDek(
  rt: HierarchyRuntime, spec: { tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; rotationId: string; at: string },
): Promise<{ kekVersion: string }> {
  const keys = rt.keys;
  if (!keys) {
    throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] ${spec.kekKeyId} has branch keys, but no branch-key signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID): tenant ${spec.tenant}'s new DEK cannot be wrapped under its branch key; nothing was changed`);
  }
  const made = await new HierarchyDeks(keys, rt.deks).create({
    tenant: spec.tenant, dekVersion: spec.dekVersion, kekKeyId: spec.kekKeyId, kekVersion: spec.kekVersion, createdAt: spec.at, rotationRun: spec.rotationId,
  });
  const branch = await rt.store.get(spec.kekKeyId, made.branchId, made.branchVersion);
  return { kekVersion: branch?.kekVersion ?? spec.kekVersion };
}
