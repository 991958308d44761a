// What the rewrap activity needs, as two narrow ports with adapters:
// - the real ones: lib/stores/dekStore.ts (ranged scans that skip DEKs already under the target,
//   ≤100-entity If-Match transactions with 412 re-read) and lib/vault/keyVault.ts with the SDK's
//   retries off (sdkRetries: 0), so every 429 reaches the activity's own pacing;
// - the rotation engine's ports (RotationDeps), so the memory adapters of the workflow tests serve too.
// The composition root (lib/compose.ts) builds the real ones with realRewrapDeps(cfg).
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../config";
import { parseKeyId } from "../../domain/keys";
import { InvalidRequestError } from "../../domain/errors";
import { DekStore, type RewrapTarget, type StoredDek as TableDek } from "../../stores/dekStore";
import { keyVaultsFor, type KeyVaultAdapter } from "../../vault/keyVault";
import { TableFenceStore } from "../../stores/fenceStore";
import { tableClient } from "../../stores/tables";
import type { FenceStore } from "../fence";
import type { RotationDeps, StoredDek as PortDek } from "../ports";

export type { RewrapTarget };

/** One DEK as the rewrap sees it. `source` is the adapter's own record (handed back on commit). */
export interface RewrapDek {
  tenant: string;
  id: string;
  kekKeyId: string;
  kekVersion: string;
  etag: string;
  wrapped: Buffer;
  source: unknown;
}

export interface CommitResult {
  rewrapped: number;
  skipped: number;
  conflicts: number;
  missing: number;
  /** Some DEKs could not be written (changed meanwhile) and were not retried here: re-read the page. */
  reread: boolean;
}

export interface RewrapStore {
  /** commit() re-reads and retries 412s itself (never `reread`): the caller may move on before a
   * commit settles. */
  readonly resolvesConflicts: boolean;
  tenantsPage(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }>;
  /** DEKs of the KEK under any version but `newVersion`. */
  countPending(kekKeyId: string, newVersion: string): Promise<number>;
  /** One page of a tenant's DEKs; with a capable store, DEKs already under `notUnder` are left out. */
  scan(tenant: string, opts: { continuation?: string; limit: number; notUnder: RewrapTarget }): Promise<{ deks: RewrapDek[]; continuation?: string }>;
  /** Writes `deks` under `target` with If-Match; `wrapped` holds the new bytes by DEK id (computed
   * from the etag read); `recompute` is called for a DEK that changed meanwhile. Never overwrites. */
  commit(tenant: string, deks: RewrapDek[], target: RewrapTarget, wrapped: Map<string, Uint8Array>, recompute: (dek: RewrapDek) => Promise<Uint8Array>): Promise<CommitResult>;
}

/** One KEK's crypto: unwrap remote (429 → DependencyUnavailableError code Throttled), wrap local. */
export interface RewrapVault {
  unwrap(version: string, wrapped: Uint8Array): Promise<Buffer>;
  wrap(version: string, plaintext: Uint8Array): Promise<Buffer>;
  /** Key type as Key Vault names it (RSA, RSA-HSM, ...) and the RSA modulus size. */
  shape(version: string): Promise<{ kty: string; bits?: number }>;
}

export interface RewrapDeps {
  store: RewrapStore;
  vaultFor(kekKeyId: string): RewrapVault;
  /** Share of the vault's documented limit a rewrap may use (KEYROTOR_VAULT_BUDGET_FRACTION). */
  budgetFraction: number;
  /** Overrides the documented limit (transactions per 10 s), e.g. a vault with a known lower limit
   * or the local peer's throttle; 0 = no limit known (unpaced). */
  vaultLimitPer10s?: number;
  /** DEKs one range activity rewraps at most (KEYROTOR_REWRAP_BATCH_SIZE); a rotation's own
   * smaller batch wins. */
  dekBatch?: number;
  /** The keys' fence rows (lib/orchestration/fence.ts): a fenced range reads its key's row before
   * each batch it commits, so a range still running after a take-over stops writing at its next
   * batch. Absent (a bench's own wiring) = checked only when the activity starts (handlers.ts). */
  fences?: FenceStore;
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

const runtime = { now: () => Date.now(), sleep: (ms: number) => sleep(ms).then(() => undefined), random: () => Math.random() };

function vaultAndName(kekKeyId: string): { vault: string; name: string } {
  const p = parseKeyId(kekKeyId);
  if (p.kind !== "kek" || !p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [rewrap] ${kekKeyId} is not a KEK (kek:<vault>/<key>)`);
  return { vault: p.vault, name: p.name };
}

// ---- real adapters ------------------------------------------------------------------------------

export function dekStoreRewrapStore(store: DekStore, opts: { concurrency?: number } = {}): RewrapStore {
  const toDek = (d: TableDek): RewrapDek => ({ tenant: d.tenant, id: d.dekId, kekKeyId: d.kekKeyId, kekVersion: d.kekVersion, etag: d.etag, wrapped: Buffer.from(d.wrapped, "base64url"), source: d });
  return {
    resolvesConflicts: true,
    async tenantsPage(o) {
      const page = await store.listTenants({ limit: o.limit, ...(o.continuation ? { continuation: o.continuation } : {}) });
      return { tenants: page.items, ...(page.continuation ? { continuation: page.continuation } : {}) };
    },
    async countPending(kekKeyId, newVersion) {
      const counts = await store.countsByKekVersion(kekKeyId);
      return Object.entries(counts).filter(([v]) => v !== newVersion).reduce((s, [, n]) => s + n, 0);
    },
    async scan(tenant, o) {
      const page = await store.scanRange(tenant, { limit: o.limit, notUnder: o.notUnder, ...(o.continuation ? { continuation: o.continuation } : {}) });
      return { deks: page.items.map(toDek), ...(page.continuation ? { continuation: page.continuation } : {}) };
    },
    async commit(tenant, deks, target, wrapped, recompute) {
      const computedFrom = new Map(deks.map((d) => [d.id, d.etag]));
      const counts = await store.rewrapBatch(tenant, deks.map((d) => d.source as TableDek), target, async (d) => {
        const w = wrapped.get(d.dekId);
        // Bytes computed from the version read are reused; a DEK changed meanwhile is recomputed.
        if (w && computedFrom.get(d.dekId) === d.etag) return w;
        return recompute(toDek(d));
      }, { concurrency: opts.concurrency ?? 16 });
      return { rewrapped: counts.rewrapped, skipped: counts.skipped, conflicts: counts.conflicts, missing: counts.missing, reread: false };
    },
  };
}

export function keyVaultRewrapVault(vaultFor: (vault: string) => KeyVaultAdapter): (kekKeyId: string) => RewrapVault {
  return (kekKeyId) => {
    const { vault, name } = vaultAndName(kekKeyId);
    const adapter = vaultFor(vault);
    return {
      unwrap: (version, wrapped) => adapter.unwrap(name, version, wrapped),
      wrap: (version, plaintext) => adapter.wrap(name, version, plaintext),
      async shape(version) {
        const k = await adapter.getKey(name, version);
        return { kty: k.kty ?? "RSA", ...(k.keySize ? { bits: k.keySize } : {}) };
      },
    };
  };
}

/** The production wiring: the DEK table and Key Vault with SDK retries off. */
export function realRewrapDeps(cfg: Config, opts: { vaultLimitPer10s?: number } = {}): RewrapDeps {
  return {
    store: dekStoreRewrapStore(DekStore.fromConfig(cfg)),
    vaultFor: keyVaultRewrapVault(keyVaultsFor(cfg, { sdkRetries: 0 })),
    budgetFraction: cfg.KEYROTOR_VAULT_BUDGET_FRACTION,
    dekBatch: cfg.KEYROTOR_REWRAP_BATCH_SIZE,
    fences: new TableFenceStore(tableClient(cfg, "locks")),
    ...(opts.vaultLimitPer10s !== undefined ? { vaultLimitPer10s: opts.vaultLimitPer10s } : {}),
    ...runtime,
  };
}

// ---- over the rotation engine's ports -----------------------------------------------------------

/** The rotation ports (memory adapters in the workflow tests). Their scan cannot filter by version,
 * so DEKs already rewrapped are read and skipped; their batch write reports conflicts instead of
 * re-reading, so a conflicted page is read again. The caller declares the vault's limit: 0 for an
 * in-memory vault (unpaced), none for Key Vault (its documented limit). */
export function fromRotationDeps(deps: RotationDeps, opts: { budgetFraction?: number; vaultLimitPer10s?: number } = {}): RewrapDeps {
  const toDek = (d: PortDek): RewrapDek => ({ tenant: d.tenant, id: d.dekVersion, kekKeyId: d.kekKeyId, kekVersion: d.kekVersion, etag: d.etag, wrapped: Buffer.from(d.wrapped, "base64"), source: d });
  const store: RewrapStore = {
    resolvesConflicts: false,
    async tenantsPage(o) {
      // The port lists every tenant at once; page over it by offset.
      const all = await deps.deks.listTenants();
      const from = o.continuation ? Number(o.continuation) : 0;
      const next = from + o.limit;
      return { tenants: all.slice(from, next), ...(next < all.length ? { continuation: String(next) } : {}) };
    },
    async countPending(kekKeyId, newVersion) {
      const counts = await deps.deks.countByKekVersion(kekKeyId);
      return Object.entries(counts).filter(([v]) => v !== newVersion).reduce((s, [, n]) => s + n, 0);
    },
    async scan(tenant, o) {
      const page = await deps.deks.scanRange(tenant, { limit: o.limit, ...(o.continuation ? { continuation: o.continuation } : {}) });
      return { deks: page.records.map(toDek), ...(page.continuation ? { continuation: page.continuation } : {}) };
    },
    async commit(tenant, deks, target, wrapped) {
      const rewrites = deks.flatMap((d) => {
        const w = wrapped.get(d.id);
        return w ? [{ dekVersion: d.id, etag: d.etag, kekVersion: target.kekVersion, wrapped: Buffer.from(w).toString("base64") }] : [];
      });
      if (rewrites.length === 0) return { rewrapped: 0, skipped: 0, conflicts: 0, missing: 0, reread: false };
      const r = await deps.deks.rewrapBatch(tenant, rewrites);
      return { rewrapped: r.written, skipped: 0, conflicts: r.conflicts.length, missing: 0, reread: r.conflicts.length > 0 };
    },
  };
  return {
    store,
    vaultFor(kekKeyId) {
      const { vault, name } = vaultAndName(kekKeyId);
      return {
        unwrap: (version, wrapped) => deps.vault.unwrapKey(vault, name, version, Buffer.from(wrapped)),
        wrap: (version, plaintext) => deps.vault.wrapKey(vault, name, version, Buffer.from(plaintext)),
        async shape(version) {
          const jwk = await deps.vault.publicJwk(vault, name, version);
          const n = typeof jwk.n === "string" ? Buffer.from(jwk.n, "base64url") : undefined;
          return { kty: jwk.kty, ...(n ? { bits: modulusBits(n) } : {}) };
        },
      };
    },
    budgetFraction: opts.budgetFraction ?? 0.8,
    fences: deps.fences,
    ...(opts.vaultLimitPer10s !== undefined ? { vaultLimitPer10s: opts.vaultLimitPer10s } : {}),
    ...runtime,
  };
}

function modulusBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  const first = n[i] ?? 0;
  return (n.length - i - 1) * 8 + (first === 0 ? 0 : Math.floor(Math.log2(first)) + 1);
}
