// Creating a tenant's DEK under the hierarchy (format 2): the tenant's branch key (stored assignment,
// checked against signed data), a fresh 256-bit DEK wrapped locally with AES-256-GCM under it.
// No remote call per DEK: at most one unwrap per branch-key version per TTL (the cache).
import { randomBytes } from "node:crypto";
import { BranchKeyCache, type BranchKeyCacheOptions } from "../envelope/branchKeyCache";
import { DEK_BYTES, dekIdFor } from "../envelope/dekRecord";
import type { BranchKeys } from "./branchKeys";
import type { HierarchyDekStore } from "./dekStore";
import { wrapDek } from "./dekWrap";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "./records";

export class HierarchyDeks {
  readonly cache: BranchKeyCache;

  constructor(private readonly keys: BranchKeys, private readonly store: HierarchyDekStore, opts: BranchKeyCacheOptions & { now?: () => number } = {}) {
    this.cache = new BranchKeyCache(async (ref) => {
      const r = await keys.store.get(ref.kekKeyId, ref.branchId, ref.version);
      if (!r) throw new Error(`[keyrotor] [hierarchy] branch key ${ref.branchId}#${ref.version} vanished`);
      return keys.open(r);
    }, opts);
  }

  /** A new primary DEK (version `dekVersion`) for `tenant` under `kekKeyId`'s hierarchy. New branch
   * keys are wrapped under `kekVersion` (the KEK's primary). Returns the record (no plaintext). */
  async create(spec: { tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; isolated?: boolean; createdAt?: string; rotationRun?: string }): Promise<HierarchyDekRecord> {
    const { record: branch, key: fresh } = await this.keys.forTenant(spec.kekKeyId, spec.kekVersion, spec.tenant, spec.isolated !== undefined ? { isolated: spec.isolated } : {});
    const branchKey = fresh ?? (await this.cache.get({ kekKeyId: spec.kekKeyId, branchId: branch.branchId, version: branch.version }));
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
      return record;
    } finally {
      dek.fill(0);
      fresh?.fill(0);
    }
  }
}
