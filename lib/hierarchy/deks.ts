// Creating a tenant's DEK under the hierarchy (format 2): the tenant's branch key (stored assignment,
// checked against signed data), a fresh 256-bit DEK wrapped locally with AES-256-GCM under it.
// No remote call per DEK: at most one unwrap per branch-key version per TTL (the cache).
import { randomBytes } from "node:crypto";
import { commitmentMatches } from "../domain/branchKeys";
import { BranchKeyCache, type BranchKeyCacheOptions, type BranchKeyRef } from "../envelope/branchKeyCache";
import { DEK_BYTES, dekIdFor } from "../envelope/dekRecord";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import type { HierarchyDekStore } from "./dekStore";
import { wrapDek } from "./dekWrap";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "./records";

export interface CreateSpec {
  tenant: string;
  dekVersion: number;
  kekKeyId: string;
  kekVersion: string;
  isolated?: boolean;
  createdAt?: string;
  rotationRun?: string;
}

const refKey = (r: BranchKeyRef) => `${r.kekKeyId}|${r.branchId}|${r.version}`;

export class HierarchyDeks {
  readonly cache: BranchKeyCache;
  /** Branch-key records create() has just read (forTenant), by cache key: the cache's load opens
   * that record instead of reading the same row again. */
  private readonly justRead = new Map<string, StoredBranchKey>();

  constructor(private readonly keys: BranchKeys, private readonly store: HierarchyDekStore, opts: BranchKeyCacheOptions & { now?: () => number } = {}) {
    this.cache = new BranchKeyCache(async (ref) => {
      const r = this.justRead.get(refKey(ref)) ?? (await keys.store.get(ref.kekKeyId, ref.branchId, ref.version));
      if (!r) throw new Error(`[keyrotor] [hierarchy] branch key ${ref.branchId}#${ref.version} vanished`);
      return keys.open(r);
    }, opts);
  }

  /** A new primary DEK (version `dekVersion`) for `tenant` under `kekKeyId`'s hierarchy. New branch
   * keys are wrapped under `kekVersion` (the KEK's primary). Returns the record (no plaintext). */
  async create(spec: CreateSpec): Promise<HierarchyDekRecord> {
    return (await this.createWithBranch(spec)).dek;
  }

  /** create(), also returning the branch-key record the DEK went under (which KEK version wraps it,
   * for the rotation's ledger entry), so the caller never reads that row again. */
  async createWithBranch(spec: CreateSpec): Promise<{ dek: HierarchyDekRecord; branch: StoredBranchKey }> {
    const { record: branch, key: fresh } = await this.keys.forTenant(spec.kekKeyId, spec.kekVersion, spec.tenant, spec.isolated !== undefined ? { isolated: spec.isolated } : {});
    const ref = { kekKeyId: spec.kekKeyId, branchId: branch.branchId, version: branch.version };
    const branchKey = fresh ?? (await this.openCached(ref, branch));
    // A branch key made just now goes into the cache too: the next tenant under it (a later DEK
    // rotation through the same writer) spends no remote unwrap on it.
    // Whatever the cache held under this id is gone: a fresh version exists only where the branch
    // key had no current version left.
    if (fresh) {
      this.cache.onEvent({ type: "BranchKeysDestroyed", kekKeyId: ref.kekKeyId, branchIds: [ref.branchId] });
      this.cache.seed(ref, Buffer.from(fresh));
    }
    const dek = randomBytes(DEK_BYTES);
    try {
      const record: HierarchyDekRecord = {
        format: DEK_FORMAT_2, tenant: spec.tenant, dekId: dekIdFor(spec.dekVersion), dekVersion: spec.dekVersion, kekKeyId: spec.kekKeyId,
        branchId: branch.branchId, branchVersion: branch.version, alg: "A256GCM",
        wrapped: wrapDek(branchKey, dek, { tenant: spec.tenant, dekVersion: spec.dekVersion, kekKeyId: spec.kekKeyId, branchId: branch.branchId, branchVersion: branch.version }),
        createdAt: spec.createdAt ?? new Date().toISOString(), state: "primary",
        // The rotation that made it (a DEK rotation's id): its retry finds it and makes none twice.
        ...(spec.rotationRun ? { rotationRun: spec.rotationRun } : {}),
      };
      await this.store.put(record);
      return { dek: record, branch };
    } finally {
      dek.fill(0);
      fresh?.fill(0);
    }
  }

  /** The plaintext of `branch` (just read) through the cache. A cached key must match the record's
   * signed commitment: one that does not was cached under the same id and version before that
   * version was destroyed and made again, and is dropped, never used for a new DEK. */
  private async openCached(ref: BranchKeyRef, branch: StoredBranchKey): Promise<Buffer> {
    this.justRead.set(refKey(ref), branch);
    try {
      const cached = await this.cache.get(ref);
      if (commitmentMatches(cached, branch.commitment)) return cached;
      this.cache.onEvent({ type: "BranchKeysDestroyed", kekKeyId: ref.kekKeyId, branchIds: [ref.branchId] });
      return await this.cache.get(ref);
    } finally {
      this.justRead.delete(refKey(ref));
    }
  }
}
