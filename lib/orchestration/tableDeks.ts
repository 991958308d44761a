// The rotation engine's DEK port over lib/stores/dekStore.ts (which owns the table layout and the
// tenant's primary-DEK pointer). The engine names DEK versions "v<n>" and hands wrapped bytes as
// base64; the store keeps dekVersion n, dekId = dekIdFor(n) and base64url.
//
// Idempotent DEK rotation: before the new DEK is promoted, an intent row
// (RowKey "~rotation~<rotationId>") records the version and the wrapped bytes. While it is pending
// it carries kekKeyId + kekVersion columns, so the zero-reference count (countsByKekVersion, a
// filter on kekKeyId over the whole table) sees the KEK version it is wrapped under: a KEK version
// with a pending DEK intent is never proven unreferenced. DEK scans stop before "~", so the rewrap
// never reads it. Once promoted, the intent is settled (its wrap columns dropped, rotationId and
// dekVersion kept) and tenantDeks() reports which rotation made each DEK from it.
//
// A retried rotation re-promotes its intent only when the intent is wrapped under the same KEK
// version as the retry's fresh wrap (which the activity made under the KEK's current primary); an
// intent under any other KEK version (revoked or superseded in between) is replaced, never promoted.
import { odata, type TableClient } from "@azure/data-tables";
import { InvariantViolationError, RotationConflictError } from "../domain/errors";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord as EnvelopeDek } from "../envelope/dekRecord";
import { DekStore, type StoredDek as StoreDek } from "../stores/dekStore";
import { ensureTable, escapeKey, statusOf, translateTableError } from "../stores/tables";
import type { DekRecord, DekRewrite, DekStorePort, StoredDek } from "./ports";

const INTENT_PREFIX = "~rotation~";
const INTENT_END = "~rotation~\uffff";
/** Scanned rows remembered for the rewrite that follows (the port's rewrite names only dekVersion). */
const SCAN_MEMORY = 20_000;

type IntentEntity = {
  partitionKey: string;
  rowKey: string;
  rotationId: string;
  dekVersion: number;
  createdAt: string;
  /** Pending only (absent once settled): the wrapped DEK and the KEK version it is wrapped under. */
  wrappedDek?: string;
  wrapKek?: string;
  wrapKekVersion?: string;
  /** Pending only: the same KEK version under the column names the reference count reads. */
  kekKeyId?: string;
  kekVersion?: string;
  /** Set when the DEK was promoted. */
  settledAt?: string;
  etag?: string;
};

type PendingIntent = IntentEntity & { wrappedDek: string; wrapKek: string; wrapKekVersion: string };

const isPending = (i: IntentEntity): i is PendingIntent => i.wrappedDek !== undefined && i.wrapKek !== undefined && i.wrapKekVersion !== undefined;

/** The intent once its DEK is primary: the rotation that made the DEK, no wrap, no reference. */
function settledIntent(i: IntentEntity): IntentEntity {
  return { partitionKey: i.partitionKey, rowKey: i.rowKey, rotationId: i.rotationId, dekVersion: i.dekVersion, createdAt: i.createdAt, settledAt: new Date().toISOString() };
}

/** Called between recording the intent and promoting it: throws when the KEK version the DEK is
 * wrapped under must not wrap a new primary DEK (no longer the KEK's primary, disabled, revoked). */
export type KekVersionGuard = (wrap: { kekKeyId: string; kekVersion: string }) => Promise<void>;

const toB64 = (b64url: string): string => Buffer.from(b64url, "base64url").toString("base64");
const toB64url = (b64: string): string => Buffer.from(b64, "base64").toString("base64url");

function versionNumber(dekVersion: string): number {
  const m = /^v0*(\d+)$/.exec(dekVersion);
  if (!m) throw new InvariantViolationError("DekVersionInvalid", `[keyrotor] [deks] DEK version "${dekVersion}" is not v<n>`);
  return Number(m[1]);
}

function toPort(d: StoreDek, rotationId: string | undefined): StoredDek {
  return {
    tenant: d.tenant, dekVersion: `v${d.dekVersion}`, state: d.state, kekKeyId: d.kekKeyId, kekVersion: d.kekVersion,
    wrapped: toB64(d.wrapped), createdAt: d.createdAt, etag: d.etag, ...(rotationId ? { rotationId } : {}),
  };
}

/** Thrown inside DekStore.rewrapBatch when a re-read row no longer holds the ciphertext the rewrite
 * was computed from: that row is reported as a conflict, never overwritten. */
class StaleRewrite extends Error {}

export class TableDekRotationPort implements DekStorePort {
  readonly store: DekStore;
  private readonly scanned = new Map<string, StoreDek>();
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {
    this.store = new DekStore(client);
  }

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create DEK table");
    });
    return this.ready;
  }

  async listTenants(): Promise<string[]> {
    const out: string[] = [];
    for await (const t of this.store.tenants()) out.push(t);
    return out.sort();
  }

  async tenantsPage(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }> {
    const page = await this.store.listTenants({ limit: opts.limit, ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    return { tenants: page.items, ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  async scanRange(tenant: string, opts: { continuation?: string; limit: number }): Promise<{ records: StoredDek[]; continuation?: string }> {
    const page = await this.store.scanRange(tenant, { limit: opts.limit, ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    if (this.scanned.size > SCAN_MEMORY) this.scanned.clear();
    for (const d of page.items) this.scanned.set(`${tenant}\u0000${d.dekVersion}`, d);
    return { records: page.items.map((d) => toPort(d, undefined)), ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  /** Writes the rewrites through DekStore.rewrapBatch (≤100 per transaction, If-Match). A row whose
   * ciphertext changed since the scan comes back in `conflicts`; a row whose state alone changed
   * (a DEK rotation demoting it) still holds the same DEK and is written. */
  async rewrapBatch(tenant: string, rewrites: DekRewrite[]): Promise<{ written: number; conflicts: string[] }> {
    const conflicts = new Set<string>();
    const items: StoreDek[] = [];
    const computed = new Map<string, { from: StoreDek; wrapped: Uint8Array }>();
    for (const r of rewrites) {
      const n = versionNumber(r.dekVersion);
      const key = `${tenant}\u0000${n}`;
      let from = this.scanned.get(key);
      if (!from || from.etag !== r.etag) from = await this.store.get(tenant, dekIdFor(n));
      this.scanned.delete(key);
      if (!from || from.etag !== r.etag) {
        conflicts.add(r.dekVersion);
        continue;
      }
      items.push(from);
      computed.set(from.dekId, { from, wrapped: Buffer.from(r.wrapped, "base64") });
    }
    let written = 0;
    const targets = new Map<string, StoreDek[]>();
    for (const d of items) {
      const kekVersion = rewrites.find((r) => versionNumber(r.dekVersion) === d.dekVersion)!.kekVersion;
      const k = `${d.kekKeyId}\u0000${kekVersion}`;
      targets.set(k, [...(targets.get(k) ?? []), d]);
    }
    for (const [k, group] of targets) {
      const [kekKeyId, kekVersion] = k.split("\u0000") as [string, string];
      let todo = group;
      for (let attempt = 0; todo.length > 0; attempt++) {
        const stale = new Set<string>();
        try {
          const counts = await this.store.rewrapBatch(tenant, todo, { kekKeyId, kekVersion }, async (now) => {
            const c = computed.get(now.dekId);
            if (c && now.wrapped === c.from.wrapped && now.kekVersion === c.from.kekVersion && now.kekKeyId === c.from.kekKeyId) return c.wrapped;
            stale.add(now.dekId);
            throw new StaleRewrite(now.dekId);
          }, { maxConflictRetries: 3 });
          written += counts.rewrapped;
          todo = [];
        } catch (err) {
          if (!(err instanceof StaleRewrite) || attempt >= 3) throw err;
          for (const d of todo) if (stale.has(d.dekId)) conflicts.add(`v${d.dekVersion}`);
          todo = todo.filter((d) => !stale.has(d.dekId));
        }
      }
    }
    return { written, conflicts: [...conflicts] };
  }

  countByKekVersion(kekKeyId: string): Promise<Record<string, number>> {
    return this.store.countsByKekVersion(kekKeyId);
  }

  /** One leg of the count (pending intents included: they carry kekKeyId + kekVersion). */
  async countByKekVersionPage(kekKeyId: string, opts: { continuation?: string; maxRows: number }): Promise<{ byVersion: Record<string, number>; continuation?: string }> {
    const r = await this.store.countsByKekVersionPage(kekKeyId, opts);
    return { byVersion: r.counts, ...(r.continuation ? { continuation: r.continuation } : {}) };
  }

  /** The tenant's DEKs, each with the rotation that made it (from settled intents; a pending intent
   * whose DEK is already stored, promoted by an attempt that stopped before settling, is settled
   * here). Pending intents are not DEKs and are not returned. */
  async tenantDeks(tenant: string): Promise<StoredDek[]> {
    const intents = await this.intents(tenant);
    const out: StoredDek[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.store.scanRange(tenant, { limit: 1000, ...(continuation ? { continuation } : {}) });
      out.push(...page.items.map((d) => toPort(d, undefined)));
      continuation = page.continuation;
    } while (continuation);
    for (const i of intents) {
      const dek = out.find((d) => d.dekVersion === `v${i.dekVersion}`);
      if (!dek) continue;
      if (isPending(i)) {
        if (toB64url(dek.wrapped) !== i.wrappedDek) continue;
        await this.settle(tenant, i);
      }
      dek.rotationId = i.rotationId;
    }
    return out;
  }

  /** Records the intent, then promotes through DekStore.addPrimary (one transaction: insert, demote
   * the old primary, move the pointer), then settles the intent. A repeated call for the same
   * rotation promotes the DEK its intent names when that intent is wrapped under the KEK version
   * `next` is wrapped under; an intent under another KEK version, or one whose DEK version another
   * rotation took meanwhile, is replaced by `next`. `guard` runs after the intent is recorded (so a
   * concurrent count already sees it) and before the promotion: a DEK under a KEK version it refuses
   * never becomes primary. */
  async rotatePrimary(tenant: string, next: DekRecord, _previous: { dekVersion: string; etag: string } | undefined, guard?: KekVersionGuard): Promise<void> {
    if (!next.rotationId) throw new InvariantViolationError("DekWithoutRotation", `[keyrotor] [deks] a rotated DEK of ${tenant} must name its rotation`);
    const recorded = await this.intent(tenant, next);
    if (!isPending(recorded)) return; // settled: this rotation's DEK was promoted before
    let intent: PendingIntent = recorded;
    let existing = await this.store.get(tenant, dekIdFor(intent.dekVersion));
    if (existing && existing.wrapped === intent.wrappedDek) {
      // Promoted by an earlier attempt that stopped before settling.
      await this.settle(tenant, intent);
      return;
    }
    if (existing || intent.wrapKek !== next.kekKeyId || intent.wrapKekVersion !== next.kekVersion) {
      intent = await this.replaceIntent(tenant, intent, next);
      existing = await this.store.get(tenant, dekIdFor(intent.dekVersion));
      if (existing) throw new RotationConflictError("DekExists", `[keyrotor] [deks] ${tenant}/v${intent.dekVersion} exists with other contents`);
    }
    await guard?.({ kekKeyId: intent.wrapKek, kekVersion: intent.wrapKekVersion });
    const dekVersion = intent.dekVersion;
    const record: EnvelopeDek = {
      format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(dekVersion), dekVersion, kekKeyId: intent.wrapKek, kekVersion: intent.wrapKekVersion,
      alg: "RSA-OAEP-256", wrapped: intent.wrappedDek, createdAt: intent.createdAt, state: "primary",
    };
    // The intent is settled in the promotion's own transaction: no crash leaves a promoted DEK
    // with a pending intent (which would count as a second reference, and after a rewrap no longer
    // match the stored bytes).
    await this.store.addPrimary(record, { alsoInTransaction: [["update", settledIntent(intent), "Replace", { etag: intent.etag ?? "*" }]] });
    await this.dropStaleIntents(tenant, intent);
  }

  /** Rollback: the tenant's secondary DEK `dekVersion` becomes primary again, moving the pointer
   * consumers resolve (DekStore.rollBackTo). `guard` sees its KEK version first; a retired or
   * revoked target never reaches the guard: the rule book in rollBackTo refuses it (VersionRuleError). */
  async rollbackPrimary(tenant: string, dekVersion: string, guard?: KekVersionGuard): Promise<{ moved: boolean }> {
    const dekId = dekIdFor(versionNumber(dekVersion));
    const target = await this.store.get(tenant, dekId);
    if (target?.state === "secondary") await guard?.({ kekKeyId: target.kekKeyId, kekVersion: target.kekVersion });
    return { moved: (await this.store.rollBackTo(tenant, dekId)).moved };
  }

  private intentEntity(tenant: string, next: DekRecord): PendingIntent {
    return {
      partitionKey: escapeKey(tenant), rowKey: `${INTENT_PREFIX}${escapeKey(next.rotationId!)}`, rotationId: next.rotationId!,
      dekVersion: versionNumber(next.dekVersion), wrappedDek: toB64url(next.wrapped), wrapKek: next.kekKeyId, wrapKekVersion: next.kekVersion,
      kekKeyId: next.kekKeyId, kekVersion: next.kekVersion, createdAt: next.createdAt,
    };
  }

  private async intent(tenant: string, next: DekRecord): Promise<IntentEntity> {
    const t = await this.table();
    const entity = this.intentEntity(tenant, next);
    try {
      const r = await t.createEntity(entity);
      return { ...entity, ...(r.etag ? { etag: r.etag } : {}) };
    } catch (err) {
      if (statusOf(err) !== 409) translateTableError(err, `record DEK rotation intent of ${tenant}`);
    }
    try {
      return await t.getEntity<IntentEntity>(entity.partitionKey, entity.rowKey);
    } catch (err) {
      return translateTableError(err, `read DEK rotation intent of ${tenant}`);
    }
  }

  /** Replaces a pending intent (If-Match: a concurrent attempt of the same rotation → conflict). */
  private async replaceIntent(tenant: string, old: IntentEntity, next: DekRecord): Promise<PendingIntent> {
    const t = await this.table();
    const entity = this.intentEntity(tenant, next);
    try {
      const r = await t.updateEntity(entity, "Replace", { etag: old.etag ?? "*" });
      return { ...entity, ...(r.etag ? { etag: r.etag } : {}) };
    } catch (err) {
      if (statusOf(err) === 412) throw new RotationConflictError("DekIntentChanged", `[keyrotor] [deks] the rotation intent of ${tenant} changed meanwhile; retry`, { cause: err });
      return translateTableError(err, `replace DEK rotation intent of ${tenant}`);
    }
  }

  /** Marks the intent promoted (for an intent an earlier version of this code left pending). */
  private async settle(tenant: string, intent: IntentEntity): Promise<void> {
    const t = await this.table();
    try {
      await t.updateEntity(settledIntent(intent), "Replace");
    } catch (err) {
      translateTableError(err, `settle DEK rotation intent of ${tenant}`);
    }
    await this.dropStaleIntents(tenant, intent);
  }

  /** Deletes other rotations' pending intents of the tenant once one promoted: they can never be
   * promoted any more (their DEK version is not above the new primary), and the reference they
   * hold would block the retirement of their KEK version forever. */
  private async dropStaleIntents(tenant: string, promoted: IntentEntity): Promise<void> {
    const t = await this.table();
    try {
      for (const other of await this.intents(tenant)) {
        if (other.rowKey === promoted.rowKey || !isPending(other)) continue;
        await t.deleteEntity(other.partitionKey, other.rowKey, { etag: other.etag ?? "*" }).catch((err: unknown) => {
          if (statusOf(err) !== 404 && statusOf(err) !== 412) throw err;
        });
      }
    } catch (err) {
      translateTableError(err, `drop stale DEK rotation intents of ${tenant}`);
    }
  }

  private async intents(tenant: string): Promise<IntentEntity[]> {
    const t = await this.table();
    const out: IntentEntity[] = [];
    try {
      const filter = odata`PartitionKey eq ${escapeKey(tenant)} and RowKey ge ${INTENT_PREFIX} and RowKey lt ${INTENT_END}`;
      for await (const e of t.listEntities<IntentEntity>({ queryOptions: { filter } })) out.push(e);
    } catch (err) {
      translateTableError(err, `list DEK rotation intents of ${tenant}`);
    }
    return out;
  }
}
