// Resolves a tenant's DEKs to plaintext for CONSUMER services (the apps that encrypt and decrypt
// data). The orchestrator never uses this: rotation activities unwrap, rewrap and forget.
//
// Why a cache, and why in memory only with a TTL:
// - Every unwrap is a remote Key Vault call against a per-vault limit shared with the rewrap; a
//   service decrypting many records under one DEK must not spend one vault transaction per record.
// - Plaintext DEKs are never written anywhere (no disk, no distributed cache, no logs): a process
//   dump is the only exposure, bounded by the TTL and maxEntries, and entries are zeroed on eviction.
// - The primary pointer is cached for a shorter time (primaryTtlMs) so that a DEK rotation reaches
//   every consumer within that time; the DEK workflow's propagation wait must exceed it.
// - A DEK retired or revoked after it was cached stays usable until its entry expires (ttlMs):
//   retirement happens only after a zero-reference proof, and revocation's propagation wait covers it.
//
// Every row is authenticated before its DEK is used (./flatDekAuth.ts, `auth`): a signed row's
// signature is verified locally before the unwrap and the DEK checked against its signed commitment
// after; an unsigned (legacy) row is read only while the auth allows it. Without `auth` the resolver
// reads legacy rows and refuses signed ones (UNVERIFIED_FLAT_DEKS): pass flatDekAuth with the
// signing key to read DEKs keyrotor signs. A refused row is never cached or used.
import { InvalidRequestError, InvariantViolationError } from "../domain/errors";
import { checkDekRecord, dekIdFor, type DekRecord } from "./dekRecord";
import { UNVERIFIED_FLAT_DEKS, type FlatDekAuth } from "./flatDekAuth";
import type { KekPort } from "./kek";

/** Read access to stored DEK records (implemented by lib/stores/dekStore.ts). */
export interface DekSource {
  get(tenant: string, dekId: string): Promise<DekRecord | undefined>;
  getPrimary(tenant: string): Promise<DekRecord | undefined>;
}

export interface DekResolverOptions {
  ttlMs?: number;
  primaryTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
  /** How rows are authenticated (the signing key, whether legacy unsigned rows are refused). */
  auth?: FlatDekAuth;
}

export interface ResolvedDek {
  record: DekRecord;
  /** 32 bytes; owned by the cache — do not keep or modify. */
  key: Buffer;
}

interface Entry extends ResolvedDek {
  expiresAt: number;
}

export class DekResolver {
  private readonly keys = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<ResolvedDek>>();
  private readonly primaries = new Map<string, { dekVersion: number; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly primaryTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly auth: FlatDekAuth;
  unwraps = 0;

  constructor(private readonly source: DekSource, private readonly kek: KekPort, opts: DekResolverOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.primaryTtlMs = opts.primaryTtlMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.auth = opts.auth ?? UNVERIFIED_FLAT_DEKS;
  }

  /** The tenant's primary DEK, for encrypting. */
  async primary(tenant: string): Promise<ResolvedDek> {
    const cached = this.primaries.get(tenant);
    if (cached && cached.expiresAt > this.now()) return this.resolve(tenant, cached.dekVersion);
    const record = await this.source.getPrimary(tenant);
    if (!record) throw new InvalidRequestError("DekMissing", `[keyrotor] [envelope] tenant ${tenant} has no primary DEK`, { status: 404, field: "tenant" });
    if (record.state !== "primary") throw new InvalidRequestError("DekNotPrimary", `[keyrotor] [envelope] tenant ${tenant}'s primary pointer names DEK v${record.dekVersion}, which is ${record.state}`, { status: 409 });
    this.primaries.set(tenant, { dekVersion: record.dekVersion, expiresAt: this.now() + this.primaryTtlMs });
    return this.load(tenant, record.dekVersion, record);
  }

  /** A specific DEK version of the tenant, for decrypting. Refuses retired and revoked DEKs. */
  resolve(tenant: string, dekVersion: number): Promise<ResolvedDek> {
    return this.load(tenant, dekVersion);
  }

  private async load(tenant: string, dekVersion: number, known?: DekRecord): Promise<ResolvedDek> {
    const k = `${tenant}/${dekVersion}`;
    const hit = this.keys.get(k);
    if (hit && hit.expiresAt > this.now()) return hit;
    if (hit) this.evict(k);
    let p = this.inflight.get(k);
    if (!p) {
      p = this.fetch(tenant, dekVersion, known).finally(() => this.inflight.delete(k));
      this.inflight.set(k, p);
    }
    return p;
  }

  private async fetch(tenant: string, dekVersion: number, known?: DekRecord): Promise<ResolvedDek> {
    const record = known ?? (await this.source.get(tenant, dekIdFor(dekVersion)));
    if (!record) throw new InvalidRequestError("DekUnknown", `[keyrotor] [envelope] tenant ${tenant} has no DEK v${dekVersion}`, { status: 404 });
    checkDekRecord(record);
    if (record.state === "retired" || record.state === "revoked") {
      throw new InvalidRequestError("DekRetired", `[keyrotor] [envelope] DEK v${dekVersion} of tenant ${tenant} is ${record.state}; data under it can no longer be decrypted here`, { status: 410 });
    }
    if (record.tenant !== tenant || record.dekVersion !== dekVersion) {
      // The row named (or the pointer's target) holds another tenant's or version's DEK: a moved row.
      throw new InvariantViolationError("DekRecordMismatch", `[keyrotor] [envelope] the row read for tenant ${tenant} DEK v${dekVersion} holds ${record.tenant} v${record.dekVersion}; refusing it`);
    }
    const key = await this.auth.open(record, () => {
      this.unwraps++;
      return this.kek.unwrap(record.kekKeyId, record.kekVersion, Buffer.from(record.wrapped, "base64url"), record.alg);
    });
    const entry: Entry = { record, key, expiresAt: this.now() + this.ttlMs };
    while (this.keys.size >= this.maxEntries) {
      const oldest = this.keys.keys().next().value;
      if (oldest === undefined) break;
      this.evict(oldest);
    }
    this.keys.set(`${tenant}/${dekVersion}`, entry);
    return entry;
  }

  private evict(k: string): void {
    this.keys.get(k)?.key.fill(0);
    this.keys.delete(k);
  }

  /** Drops every cached DEK (zeroed) and primary pointer. */
  clear(): void {
    for (const k of [...this.keys.keys()]) this.evict(k);
    this.primaries.clear();
  }

  get cachedDeks(): number {
    return this.keys.size;
  }
}
