// The DEK port (lib/ports.ts DekPort) over lib/stores/dekStore.ts, which owns the table layout and
// the tenant's primary-DEK pointer. Records go through as stored (lib/envelope/dekRecord.ts).
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
import { RotationConflictError } from "../domain/errors";
import { dekIdFor, signatureOf, type DekRecord, type DekWrap, type StoredDek } from "../envelope/dekRecord";
import type { DekPort, DekRewrapCounts, KekVersionGuard } from "../ports";
import { DekStore } from "../stores/dekStore";
import { ensureTable, escapeKey, statusOf, translateTableError } from "../stores/tables";

const INTENT_PREFIX = "~rotation~";
const INTENT_END = "~rotation~\uffff";

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
  /** Pending only, signed DEKs: the signature of the DEK the intent holds (lib/envelope/flatDekAuth.ts),
   * so promoting an earlier attempt's intent promotes that DEK with its own signature. */
  commitment?: string;
  signerKeyId?: string;
  signerVersion?: string;
  signature?: string;
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

export class TableDekPort implements DekPort {
  /** DekStore.rewrapBatch re-reads a 412'd DEK and recomputes it. */
  readonly resolvesConflicts = true;
  readonly store: DekStore;
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient, private readonly opts: { rewrapConcurrency?: number } = {}) {
    this.store = new DekStore(client);
  }

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create DEK table");
    });
    return this.ready;
  }

  async tenantsPage(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }> {
    const page = await this.store.listTenants({ limit: opts.limit, ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    return { tenants: page.items, ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  /** With `notUnder` the version filter runs server-side: a resumed rewrap reads only what is left. */
  async scanRange(tenant: string, opts: { continuation?: string; limit: number; notUnder?: DekWrap }): Promise<{ records: StoredDek[]; continuation?: string }> {
    const page = await this.store.scanRange(tenant, { limit: opts.limit, ...(opts.notUnder ? { notUnder: opts.notUnder } : {}), ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    return { records: page.items, ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  /** DekStore.rewrapBatch: ≤100 per transaction, If-Match; on a 412 the changed DEKs are re-read and
   * `recompute`d from their new contents (bytes computed from the version read are reused). */
  async rewrapBatch(
    tenant: string, deks: readonly StoredDek[], target: DekWrap, wrapped: ReadonlyMap<string, Uint8Array>,
    recompute?: (dek: StoredDek) => Promise<Uint8Array>,
  ): Promise<DekRewrapCounts> {
    const computedFrom = new Map(deks.map((d) => [d.dekId, d.etag]));
    const counts = await this.store.rewrapBatch(tenant, deks, target, async (d) => {
      const w = wrapped.get(d.dekId);
      if (w && computedFrom.get(d.dekId) === d.etag) return w;
      if (!recompute) throw new RotationConflictError("DekChanged", `[keyrotor] [deks] ${tenant}/${d.dekId} changed during the rewrap and no recompute was given`);
      return recompute(d);
    }, { concurrency: this.opts.rewrapConcurrency ?? 16 });
    return { ...counts, changed: 0 };
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
      out.push(...page.items);
      continuation = page.continuation;
    } while (continuation);
    for (const i of intents) {
      const dek = out.find((d) => d.dekVersion === i.dekVersion);
      if (!dek) continue;
      if (isPending(i)) {
        if (dek.wrapped !== i.wrappedDek) continue;
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
  async rotatePrimary(next: DekRecord & { rotationId: string }, guard?: KekVersionGuard): Promise<void> {
    const tenant = next.tenant;
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
    // The intent's DEK: `next` unless an earlier attempt's intent (same KEK version) is promoted.
    const { rotationId: _made, commitment: _c, signerKeyId: _k, signerVersion: _v, signature: _s, ...dek } = next;
    const record: DekRecord = {
      ...dek, dekId: dekIdFor(intent.dekVersion), dekVersion: intent.dekVersion, wrapped: intent.wrappedDek, createdAt: intent.createdAt, state: "primary",
      ...signatureOf(intent),
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
  async rollbackPrimary(tenant: string, dekVersion: number, guard?: KekVersionGuard): Promise<{ moved: boolean }> {
    const dekId = dekIdFor(dekVersion);
    const target = await this.store.get(tenant, dekId);
    if (target?.state === "secondary") await guard?.({ kekKeyId: target.kekKeyId, kekVersion: target.kekVersion });
    return { moved: (await this.store.rollBackTo(tenant, dekId)).moved };
  }

  private intentEntity(tenant: string, next: DekRecord & { rotationId: string }): PendingIntent {
    return {
      partitionKey: escapeKey(tenant), rowKey: `${INTENT_PREFIX}${escapeKey(next.rotationId)}`, rotationId: next.rotationId,
      dekVersion: next.dekVersion, wrappedDek: next.wrapped, wrapKek: next.kekKeyId, wrapKekVersion: next.kekVersion,
      kekKeyId: next.kekKeyId, kekVersion: next.kekVersion, createdAt: next.createdAt, ...signatureOf(next),
    };
  }

  private async intent(tenant: string, next: DekRecord & { rotationId: string }): Promise<IntentEntity> {
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
  private async replaceIntent(tenant: string, old: IntentEntity, next: DekRecord & { rotationId: string }): Promise<PendingIntent> {
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
