// A tenant's DEK rotation (the durable DEK flow's rotateTenantDek) for a KEK that has branch keys:
// the new DEK version is a format-2 DEK under the tenant's branch key, wrapped locally, so a
// quarterly DEK rotation keeps the tenant in the hierarchy instead of writing a flat DEK (one
// remote wrap under the KEK) that the next KEK rotation would have to unwrap remotely again.
import { InvariantViolationError } from "../domain/errors";
import { HierarchyDeks } from "./deks";
import type { HierarchyRuntime } from "./durableRuntime";
import type { StoredHierarchyDek, TenantPartition } from "./dekStore";

/** One DEK writer per runtime (the composition builds one), so its branch-key cache outlives an
 * activity call: the tenants of one branch key, rotated one activity each, share ONE remote unwrap
 * per branch-key version per TTL instead of one each (2,000 tenants over 256 branch keys: 256, not
 * 2,000). Safe without the consumers' rotation events: a DEK goes under the version the table says
 * is current, read every time, so a cached older version is never used for a new DEK. */
const writers = new WeakMap<HierarchyRuntime, HierarchyDeks>();

function writerFor(rt: HierarchyRuntime, keys: NonNullable<HierarchyRuntime["keys"]>): HierarchyDeks {
  let w = writers.get(rt);
  if (!w) {
    w = new HierarchyDeks(keys, rt.deks);
    writers.set(rt, w);
  }
  return w;
}

/** The tenant's format-2 DEKs and primary pointer in one query: what a DEK rotation reads first, and
 * hands to rotateHierarchyDek so the write reads neither again. */
export function hierarchyTenant(rt: HierarchyRuntime, tenant: string): Promise<TenantPartition> {
  return rt.deks.partition(tenant);
}

/** True when the KEK has branch-key records: its tenants' new DEKs go under branch keys (what the
 * KEK flow decides by, its reference count's branch keys). One row read, however many branch keys
 * the KEK has: every tenant's quarterly DEK rotation asks. */
export async function kekHasBranchKeys(rt: HierarchyRuntime, kekKeyId: string): Promise<boolean> {
  return rt.store.hasAny(kekKeyId);
}

/** Whether a tenant's new DEK goes under `kekKeyId`'s branch keys: yes at once when the tenant
 * already has a format-2 DEK under that KEK (read anyway; no Table request), else whether the KEK
 * has branch keys at all (one row). */
export async function dekGoesUnderBranchKeys(rt: HierarchyRuntime, kekKeyId: string, tenantDeks: readonly StoredHierarchyDek[]): Promise<boolean> {
  return tenantDeks.some((d) => d.kekKeyId === kekKeyId) || (await kekHasBranchKeys(rt, kekKeyId));
}

/** Creates the tenant's new primary DEK (version `dekVersion`) under its branch key, marked with
 * the rotation id (`rotationRun`: a retried activity finds it and makes none twice). New branch keys
 * are wrapped under `kekVersion` (the KEK's primary). Returns the KEK version the DEK's branch key
 * is wrapped under. One remote unwrap at most (the branch key's), none per DEK. */
export async function rotateHierarchyDek(
  rt: HierarchyRuntime, spec: { tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; rotationId: string; at: string; read?: TenantPartition },
): Promise<{ kekVersion: string }> {
  const keys = rt.keys;
  if (!keys) {
    throw new InvariantViolationError("HierarchyNotConfigured", `[keyrotor] [hierarchy] ${spec.kekKeyId} has branch keys, but no branch-key signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID): tenant ${spec.tenant}'s new DEK cannot be wrapped under its branch key; nothing was changed`);
  }
  // The branch-key record comes back with the DEK: its row is not read a second time.
  const { branch } = await writerFor(rt, keys).createWithBranch({
    tenant: spec.tenant, dekVersion: spec.dekVersion, kekKeyId: spec.kekKeyId, kekVersion: spec.kekVersion, createdAt: spec.at, rotationRun: spec.rotationId,
    ...(spec.read ? { read: spec.read } : {}),
  });
  return { kekVersion: branch.kekVersion };
}
