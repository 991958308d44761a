// The KEK flow's zero-reference count with the key hierarchy in it: a version is disabled only
// after a count proves nothing references it, and a KEK version that still wraps a branch key
// protects every DEK under that branch key, so the count that lets a retirement disable a version,
// or an emergency revoke it, must count branch-key records as well as flat DEKs. The count runs in legs over the flat DEKs (../orchestration/dekCounts); the branch
// keys (a few hundred rows per KEK, one partition) are added to the last leg's totals, so only an
// answer without a cursor, the one callers read as the total, carries them.
import { countReferences, type ReferenceCount } from "../orchestration/dekCounts";
import type { CountReferencesInput } from "../orchestration/dekCounts";
import type { RotationDeps } from "../orchestration/ports";
import type { z } from "zod";
import type { BranchKeyStore } from "./branchKeyStore";

export interface HierarchyReferenceCount extends ReferenceCount {
  /** Branch-key records of the KEK per KEK version they are wrapped under (included in byVersion
   * and other); present when the KEK has any. */
  branchKeys?: Record<string, number>;
}

/** Branch-key records of `kekKeyId` per KEK version. */
export async function branchKeysByKekVersion(store: BranchKeyStore, kekKeyId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await store.all(kekKeyId)) out[r.kekVersion] = (out[r.kekVersion] ?? 0) + 1;
  return out;
}

/** countReferences plus the KEK's branch keys on the last leg. Without a branch-key store (memory
 * adapters) it is the flat count alone. */
export async function countAllReferences(deps: RotationDeps, store: BranchKeyStore | undefined, input: z.input<typeof CountReferencesInput>): Promise<HierarchyReferenceCount> {
  const flat = await countReferences(deps, input);
  if (flat.cursor || !store) return flat;
  const branchKeys = await branchKeysByKekVersion(store, input.kekKeyId);
  if (Object.keys(branchKeys).length === 0) return flat;
  const byVersion = { ...flat.byVersion };
  let other = flat.other;
  for (const [v, n] of Object.entries(branchKeys)) {
    byVersion[v] = (byVersion[v] ?? 0) + n;
    if (v !== input.keepVersion) other += n;
  }
  return { byVersion, other, branchKeys };
}
