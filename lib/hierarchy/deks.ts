// Creating a tenant's DEK under the hierarchy (format 2): the tenant's branch key (stored assignment,
// checked against signed data), a fresh 256-bit DEK wrapped locally with AES-256-GCM under it.
// No remote call per DEK: at most one unwrap per branch-key version per TTL (the cache).
import { randomBytes } from "node:crypto";
import { commitmentMatches } from "../domain/branchKeys";
import { RotationConflictError } from "../domain/errors";
import { BranchKeyCache, type BranchKeyCacheOptions, type BranchKeyRef } from "../envelope/branchKeyCache";
import { DEK_BYTES, dekIdFor } from "../envelope/dekRecord";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import type { HierarchyDekStore, StoredHierarchyDek, TenantPartition } from "./dekStore";
import { unwrapDek, wrapDek } from "./dekWrap";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "./records";

export interface CreateSpec {
  tenant: string;
  dekVersion: number;
  kekKeyId: string;
  kekVersion: string;
  isolated?: boolean;
  createdAt?: string;
  rotationRun?: string;
  /** The tenant's partition as the caller just read it (a DEK rotation): the write takes the
   * previous primary and the pointer from it instead of reading them again. */
  read?: TenantPartition;
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
    if (branch.kekVersion !== spec.kekVersion) {
      fresh?.fill(0);
      // Between an emergency's promotion of the new KEK version and its replacement of the branch
      // keys, the tenant's current branch key is still wrapped under the compromised version (and
      // after a KEK rotation's promotion, under the previous one until its re-wrap): a new DEK goes
      // only under a branch key wrapped under the KEK version the caller checked. Refused, not
      // waited for: the DEK rotation is retried once the KEK's own run has moved the branch keys.
      throw new RotationConflictError("BranchKeyNotUnderKekPrimary", `[keyrotor] [hierarchy] tenant ${spec.tenant}'s branch key ${branch.branchId}#${branch.version} is wrapped under ${spec.kekKeyId} version ${branch.kekVersion}, not the checked primary ${spec.kekVersion} (a KEK rotation or emergency is moving it); nothing was written, retry later`);
    }
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
      await this.store.put(record, spec.read);
      const settled = await this.settle(spec.tenant, record.dekId, dek, record);
      if (!settled) throw new RotationConflictError("BranchKeyGone", `[keyrotor] [hierarchy] branch key ${branch.branchId}#${branch.version} vanished under tenant ${spec.tenant}'s new DEK v${spec.dekVersion}`);
      return settled;
    } finally {
      dek.fill(0);
      fresh?.fill(0);
    }
  }

  /** Write-then-check, against a replacement run's mark-then-count (lib/hierarchy/workflows.ts
   * finishReplacement: the old versions are made secondary before the count that allows their
   * destruction). The DEK `tenant`/`dekId`, once written, must sit under a branch-key version still
   * in state primary: if the re-read finds it so, the demotion had not happened at the write, so the
   * run's later count sees this DEK (and re-wraps it, or does not destroy); if it finds the version
   * demoted or destroyed, the run may have counted before the write, so the DEK is re-wrapped here
   * (If-Match) under the branch key's current primary version and checked again. `plain` is the
   * DEK's plaintext when the caller holds it (just made: a destroyed version costs nothing); without
   * it the DEK is unwrapped through its (demoted) version, and undefined is returned when that
   * version is gone: the DEK can no longer be opened. */
  async settle(tenant: string, dekId: string, plain?: Buffer, written?: HierarchyDekRecord): Promise<{ dek: HierarchyDekRecord; branch: StoredBranchKey } | undefined> {
    // The record just written is checked as is (no read of its row when its version is primary).
    let next: HierarchyDekRecord | undefined = written;
    for (let attempt = 0; ; attempt++) {
      const dek = next ?? (await this.store.get(tenant, dekId));
      next = undefined;
      if (!dek) throw new RotationConflictError("DekGone", `[keyrotor] [hierarchy] DEK ${tenant}/${dekId} vanished while its branch key was checked`);
      const at = await this.keys.store.get(dek.kekKeyId, dek.branchId, dek.branchVersion);
      if (at?.state === "primary") return { dek, branch: at };
      // The row as stored (its ETag for the re-wrap); moved meanwhile: check where it is now.
      const stored = "etag" in dek ? (dek as StoredHierarchyDek) : await this.store.get(tenant, dekId);
      if (!stored) throw new RotationConflictError("DekGone", `[keyrotor] [hierarchy] DEK ${tenant}/${dekId} vanished while its branch key was checked`);
      if (stored.branchVersion !== dek.branchVersion) {
        next = stored;
        continue;
      }
      let key: Buffer;
      if (plain) key = plain;
      else if (at) key = unwrapDek(await this.openCached({ kekKeyId: dek.kekKeyId, branchId: dek.branchId, version: dek.branchVersion }, at), dek.wrapped, dek);
      else return undefined;
      try {
        if (attempt >= 4) throw new RotationConflictError("BranchKeyChanging", `[keyrotor] [hierarchy] tenant ${tenant}'s branch key ${dek.branchId} kept changing under DEK ${dekId}; retry later`);
        const target = await this.keys.current(dek.kekKeyId, dek.branchId);
        if (!target) throw new RotationConflictError("BranchKeyNoPrimary", `[keyrotor] [hierarchy] branch key ${dek.branchId} of ${dek.kekKeyId} has no primary version (being replaced); retry later`);
        const targetKey = await this.openCached({ kekKeyId: target.kekKeyId, branchId: target.branchId, version: target.version }, target);
        const wrapped = wrapDek(targetKey, key, { tenant: dek.tenant, dekVersion: dek.dekVersion, kekKeyId: dek.kekKeyId, branchId: dek.branchId, branchVersion: target.version });
        await this.store.rewrite(tenant, [{ dek: stored, branchVersion: target.version, wrapped }]);
      } catch (err) {
        // The replacement run re-wrapped it meanwhile (If-Match): read again and check that.
        if (!(err instanceof RotationConflictError) || err.code === "BranchKeyChanging" || err.code === "BranchKeyNoPrimary") throw err;
      } finally {
        if (key !== plain) key.fill(0);
      }
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
