// The consumer's DEK resolution with the key hierarchy: DEK (format 2) → branch key (cache: one
// remote unwrap per branch-key version per TTL) → local AES-GCM unwrap of the DEK. A tenant whose
// DEK is still a flat format-1 record (not migrated yet) falls through to the flat DekResolver, so
// ciphertexts never say which format their DEK is in and migration changes no ciphertext.
import { checkTenantBranch } from "../domain/branchKeys";
import { InvalidRequestError, InvariantViolationError } from "../domain/errors";
import type { BranchKeys } from "../hierarchy/branchKeys";
import type { HierarchyDekStore } from "../hierarchy/dekStore";
import { unwrapDek } from "../hierarchy/dekWrap";
import { checkHierarchyDek, type HierarchyDekRecord } from "../hierarchy/records";
import { BranchKeyCache, branchKeyEventOf, type BranchKeyCacheOptions, type BranchKeyEvent } from "./branchKeyCache";
import { dekIdFor } from "./dekRecord";
import type { DekResolver } from "./resolver";

export interface HierarchyResolverOptions {
  /** DEK plaintext cache (entries zeroed on eviction). */
  dekTtlMs?: number;
  maxDeks?: number;
  /** How long the primary pointer is trusted (a DEK rotation reaches consumers within it). */
  primaryTtlMs?: number;
  branchKeys?: BranchKeyCacheOptions;
  now?: () => number;
}

export interface ResolvedKey {
  /** Which key wraps the DEK (no key material): the KEK version for format 1, the branch-key
   * version for format 2; envelope usage metrics read these. */
  record: { dekVersion: number; format: 1 | 2; kekKeyId: string; kekVersion?: string; branchId?: string; branchVersion?: number };
  key: Buffer;
}

/** The DEK's AAD authenticates the tenant and version written in its record, so the record must be
 * the one asked for, read from its own row: the tenant's partition and the row key of its version
 * (a row copied to another tenant or version would otherwise decrypt as that tenant's DEK). */
function checkIdentity(record: HierarchyDekRecord, tenant: string, dekVersion: number): HierarchyDekRecord {
  if (record.tenant === tenant && record.dekVersion === dekVersion && record.dekId === dekIdFor(dekVersion)) return record;
  throw new InvariantViolationError("DekRecordMisplaced", `[keyrotor] [envelope] tenant ${tenant}'s DEK row ${record.dekId} holds the record of ${record.tenant} v${record.dekVersion}: a DEK copied to another tenant or version is forged; refusing it`);
}

export class HierarchyDekResolver {
  readonly branchCache: BranchKeyCache;
  private readonly deks = new Map<string, { resolved: ResolvedKey; expiresAt: number }>();
  private readonly primaries = new Map<string, { dekVersion: number; expiresAt: number }>();
  private readonly now: () => number;
  private readonly dekTtlMs: number;
  private readonly maxDeks: number;
  private readonly primaryTtlMs: number;
  /** Bumped by onEvent: a primary pointer or DEK read before an event is returned to its caller but
   * not cached (it may be what the event replaced or destroyed; see BranchKeyCache). */
  private generation = 0;

  constructor(private readonly store: HierarchyDekStore, branchKeys: BranchKeys, private readonly flat?: DekResolver, opts: HierarchyResolverOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.dekTtlMs = opts.dekTtlMs ?? 5 * 60_000;
    this.maxDeks = opts.maxDeks ?? 10_000;
    this.primaryTtlMs = opts.primaryTtlMs ?? 30_000;
    this.branchCache = new BranchKeyCache(async (ref) => {
      const record = await branchKeys.store.get(ref.kekKeyId, ref.branchId, ref.version);
      if (!record) throw new InvalidRequestError("BranchKeyUnknown", `[keyrotor] [envelope] branch key ${ref.branchId}#${ref.version} of ${ref.kekKeyId} does not exist (destroyed?)`, { status: 410 });
      return branchKeys.open(record);
    }, { ...opts.branchKeys, ...(opts.now ? { now: opts.now } : {}) });
  }

  async primary(tenant: string): Promise<ResolvedKey> {
    const cached = this.primaries.get(tenant);
    if (cached && cached.expiresAt > this.now()) return this.resolve(tenant, cached.dekVersion);
    const generation = this.generation;
    const record = await this.store.getPrimary(tenant);
    if (!record) {
      if (!this.flat) throw new InvalidRequestError("DekMissing", `[keyrotor] [envelope] tenant ${tenant} has no primary DEK`, { status: 404, field: "tenant" });
      const r = await this.flat.primary(tenant);
      return { record: { dekVersion: r.record.dekVersion, format: 1, kekKeyId: r.record.kekKeyId, kekVersion: r.record.kekVersion }, key: r.key };
    }
    checkIdentity(record, tenant, record.dekVersion);
    // As the flat resolver: the pointer may name a row that is no longer (or never was) primary;
    // encrypting under it would hand out a superseded (or retired) DEK.
    if (record.state !== "primary") throw new InvalidRequestError("DekNotPrimary", `[keyrotor] [envelope] tenant ${tenant}'s primary pointer names DEK v${record.dekVersion}, which is ${record.state}`, { status: 409 });
    if (generation === this.generation) this.primaries.set(tenant, { dekVersion: record.dekVersion, expiresAt: this.now() + this.primaryTtlMs });
    return this.open(record, generation);
  }

  async resolve(tenant: string, dekVersion: number): Promise<ResolvedKey> {
    const hit = this.deks.get(`${tenant}/${dekVersion}`);
    if (hit && hit.expiresAt > this.now()) return hit.resolved;
    const generation = this.generation;
    const record = await this.store.get(tenant, dekIdFor(dekVersion));
    if (record) return this.open(checkIdentity(record, tenant, dekVersion), generation);
    if (!this.flat) throw new InvalidRequestError("DekUnknown", `[keyrotor] [envelope] tenant ${tenant} has no DEK v${dekVersion}`, { status: 404 });
    const r = await this.flat.resolve(tenant, dekVersion);
    return { record: { dekVersion, format: 1, kekKeyId: r.record.kekKeyId, kekVersion: r.record.kekVersion }, key: r.key };
  }

  private async open(record: HierarchyDekRecord, generation: number): Promise<ResolvedKey> {
    checkHierarchyDek(record);
    if (record.state === "retired" || record.state === "revoked") {
      throw new InvalidRequestError("DekRetired", `[keyrotor] [envelope] DEK v${record.dekVersion} of tenant ${record.tenant} is ${record.state}`, { status: 410 });
    }
    // A DEK row pointing at another tenant's shared key or another tenant's dedicated key is refused before any
    // unwrap (its AAD would fail too, but only after spending a vault call on that branch key).
    checkTenantBranch(record.tenant, record.branchId, { hasDedicated: false });
    const branchKey = await this.branchCache.get({ kekKeyId: record.kekKeyId, branchId: record.branchId, version: record.branchVersion });
    const key = unwrapDek(branchKey, record.wrapped, record);
    const resolved: ResolvedKey = { record: { dekVersion: record.dekVersion, format: 2, kekKeyId: record.kekKeyId, branchId: record.branchId, branchVersion: record.branchVersion }, key };
    // Read before an event arrived: the caller gets it, the cache does not keep it.
    if (generation !== this.generation) return resolved;
    while (this.deks.size >= this.maxDeks) {
      const oldest = this.deks.keys().next().value;
      if (oldest === undefined) break;
      this.deks.get(oldest)?.resolved.key.fill(0);
      this.deks.delete(oldest);
    }
    // A concurrent miss may replace an entry another caller still holds: not zeroed here (only on
    // expiry and eviction, as DekResolver does).
    this.deks.set(`${record.tenant}/${record.dekVersion}`, { resolved, expiresAt: this.now() + this.dekTtlMs });
    return resolved;
  }

  /** A rotation event: drop the branch keys it names and every cached DEK (they may have been
   * re-wrapped under new branch keys; the next use reads the row again). */
  onEvent(e: BranchKeyEvent): void {
    this.generation++;
    this.branchCache.onEvent(e);
    for (const v of this.deks.values()) v.resolved.key.fill(0);
    this.deks.clear();
    this.primaries.clear();
  }

  /** A keyrotor rotation event (Service Bus message body): the ones carrying dropCachedKeys (a KEK
   * rotation re-wrapped the branch keys, an emergency destroyed them) drop the cached keys. Returns
   * whether it did. */
  onRotationEvent(e: { keyId: string; details?: Record<string, string | number | boolean> }): boolean {
    const drop = branchKeyEventOf(e);
    if (drop) this.onEvent(drop);
    return drop !== undefined;
  }
}
