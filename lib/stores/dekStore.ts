// The DEK store (Table Storage), laid out for parallel ranged scans during a KEK rewrap:
//
//   PartitionKey = tenant (escaped)   RowKey = dekId          one wrapped DEK (see DekRecord)
//   PartitionKey = tenant             RowKey = "~primary"     the tenant's primary-DEK pointer
//   PartitionKey = "~tenants"         RowKey = tenant         the index the rewrap fans out over
//
// Decision: the tenant's primary DEK pointer lives here, in the tenant's own partition, not in the
// inventory: promoting a new DEK (insert it, demote the old one, move the pointer) is then ONE
// Table transaction, and consumer services resolve the primary DEK without reading the inventory.
// The inventory mirrors it (dek:<tenant> primaryVersion) for display and planning.
// "~" sorts after every character a dekId may use, so DEK scans stop before the pointer row.
//
// A signed DEK's commitment and signature (lib/envelope/flatDekAuth.ts) are columns of its row; a
// rewrap merges only the wrap columns, so they stay as signed.
// Every entity carries kekKeyId + kekVersion: the rewrap's work list and the zero-reference proof
// (countByKekVersion) both read it. Nothing here holds plaintext key material.
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import type { Config } from "../config";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { add, dekVersionView, demote, promote, setVersionState, stateChanges, type VersionedKey } from "../domain/versions";
import { checkDekRecord, DEK_RECORD_FORMAT, signatureOf, type DekRecord, type DekWrap, type StoredDek } from "../envelope/dekRecord";
import type { DekSource } from "../envelope/resolver";
import { ensureTable, getRowOrUndefined, escapeKey, statusOf, tableClient, tableErrorCode, translateTableError, unescapeKey } from "./tables";

export const TENANTS_PARTITION = "~tenants";
export const PRIMARY_ROW = "~primary";
const MAX_TRANSACTION = 100;

export type { StoredDek };

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Undefined at the end. JSON-safe (orchestration input). */
  continuation: string | undefined;
}

export type RewrapTarget = DekWrap;

/** Unwraps `dek.wrapped` under its current KEK version and wraps it under the target; returns the new wrapped bytes. */
export type RewrapFn = (dek: StoredDek) => Promise<Uint8Array>;

export interface RewrapCounts {
  /** Written under the target version by this call. */
  rewrapped: number;
  /** Already under the target version (by an earlier attempt or a concurrent writer). */
  skipped: number;
  /** 412s met; each re-read the affected DEKs and retried. */
  conflicts: number;
  /** Deleted meanwhile. */
  missing: number;
}

export interface RewrapOptions {
  /** Parallel rewrapFn calls (default 16). */
  concurrency?: number;
  /** Attempts per transaction before giving up with a conflict (default 8). */
  maxConflictRetries?: number;
  now?: () => Date;
}

type DekEntity = {
  partitionKey: string;
  rowKey: string;
  format: number;
  tenant: string;
  dekVersion: number;
  kekKeyId: string;
  kekVersion: string;
  alg: string;
  wrapped: string;
  createdAt: string;
  state: string;
  rewrappedAt?: string;
  /** Signed DEKs only (lib/envelope/flatDekAuth.ts); a legacy row has none of the four. */
  commitment?: string;
  signerKeyId?: string;
  signerVersion?: string;
  signature?: string;
};

type PointerEntity = {
  partitionKey: string;
  rowKey: string;
  primaryDekId: string;
  primaryVersion: number;
};

function toEntity(r: DekRecord): DekEntity {
  return {
    partitionKey: escapeKey(r.tenant), rowKey: r.dekId, format: r.format, tenant: r.tenant, dekVersion: r.dekVersion,
    kekKeyId: r.kekKeyId, kekVersion: r.kekVersion, alg: r.alg, wrapped: r.wrapped, createdAt: r.createdAt, state: r.state,
    ...signatureOf(r),
  };
}

function fromEntity(e: TableEntityResult<DekEntity>): StoredDek {
  return {
    format: e.format as typeof DEK_RECORD_FORMAT,
    tenant: e.tenant ?? unescapeKey(e.partitionKey ?? ""),
    dekId: e.rowKey ?? "",
    dekVersion: e.dekVersion,
    kekKeyId: e.kekKeyId,
    kekVersion: e.kekVersion,
    alg: e.alg as DekRecord["alg"],
    wrapped: e.wrapped,
    createdAt: e.createdAt,
    state: e.state as DekRecord["state"],
    ...signatureOf(e),
    etag: e.etag,
  };
}

const underTarget = (d: DekRecord, t: RewrapTarget) => d.kekKeyId === t.kekKeyId && d.kekVersion === t.kekVersion;

export class DekStore implements DekSource {
  private readonly knownTenants = new Set<string>();
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {}

  static fromConfig(cfg: Config): DekStore {
    return new DekStore(tableClient(cfg, "deks"));
  }

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create DEK table");
    });
    return this.ready;
  }

  private async indexTenant(tenant: string): Promise<void> {
    if (this.knownTenants.has(tenant)) return;
    const t = await this.table();
    try {
      await t.upsertEntity({ partitionKey: TENANTS_PARTITION, rowKey: escapeKey(tenant), tenant }, "Merge");
    } catch (err) {
      translateTableError(err, `index tenant ${tenant}`);
    }
    this.knownTenants.add(tenant);
  }

  /** Inserts a DEK. Idempotent: putting the same record again is a no-op; a different record under
   * the same dekId is a conflict (a stored DEK is never overwritten by put). A DEK put in state
   * primary beside another primary is refused by the rule book (PrimaryExists): use addPrimary. */
  async put(record: DekRecord): Promise<void> {
    checkDekRecord(record);
    if (record.state === "primary") {
      const { view } = await this.versionView(record.tenant, [record.dekId]);
      add(view, { version: record.dekId, state: "primary", createdAt: record.createdAt });
    }
    await this.indexTenant(record.tenant);
    const t = await this.table();
    try {
      await t.createEntity(toEntity(record));
    } catch (err) {
      if (statusOf(err) === 409) {
        const existing = await this.get(record.tenant, record.dekId);
        if (existing && existing.wrapped === record.wrapped && existing.kekVersion === record.kekVersion && existing.signature === record.signature) return;
        throw new RotationConflictError("DekExists", `[keyrotor] [deks] DEK ${record.tenant}/${record.dekId} already exists with other contents`, { cause: err });
      }
      translateTableError(err, `put DEK ${record.tenant}/${record.dekId}`);
    }
  }

  /** Bulk load (seeding, migration): transactions of ≤100 per tenant; existing rows are replaced. */
  async putMany(records: Iterable<DekRecord>): Promise<number> {
    const byTenant = new Map<string, DekRecord[]>();
    let n = 0;
    const flush = async (tenant: string, batch: DekRecord[]) => {
      await this.indexTenant(tenant);
      const t = await this.table();
      try {
        await t.submitTransaction(batch.map((r): TransactionAction => ["upsert", toEntity(r), "Replace"]));
      } catch (err) {
        translateTableError(err, `bulk put DEKs of ${tenant}`);
      }
      n += batch.length;
    };
    for (const r of records) {
      checkDekRecord(r);
      const batch = byTenant.get(r.tenant) ?? [];
      batch.push(r);
      byTenant.set(r.tenant, batch);
      if (batch.length === MAX_TRANSACTION) {
        byTenant.delete(r.tenant);
        await flush(r.tenant, batch);
      }
    }
    for (const [tenant, batch] of byTenant) await flush(tenant, batch);
    return n;
  }

  async get(tenant: string, dekId: string): Promise<StoredDek | undefined> {
    const t = await this.table();
    const row = await getRowOrUndefined<DekEntity>(t, escapeKey(tenant), dekId, `get DEK ${tenant}/${dekId}`);
    return row && fromEntity(row);
  }

  async getPrimary(tenant: string): Promise<StoredDek | undefined> {
    const pointer = await this.primaryPointer(tenant);
    return pointer ? this.get(tenant, pointer.primaryDekId) : undefined;
  }

  private async primaryPointer(tenant: string): Promise<TableEntityResult<PointerEntity> | undefined> {
    const t = await this.table();
    return getRowOrUndefined<PointerEntity>(t, escapeKey(tenant), PRIMARY_ROW, `get primary DEK pointer of ${tenant}`);
  }

  /** The rule book's view of a tenant's DEKs (versions of `dek:<tenant>`, version = dekId): every
   * DEK in state primary (one filtered query) plus the named rows, with their ETags. Enough for
   * every rule a state change reads (the target's state and the primaries), without reading a
   * partition that may hold many DEKs. */
  private async versionView(tenant: string, dekIds: readonly string[]): Promise<{ view: VersionedKey; rows: Map<string, StoredDek> }> {
    const t = await this.table();
    const rows = new Map<string, StoredDek>();
    try {
      for await (const e of t.listEntities<DekEntity>({ queryOptions: { filter: odata`PartitionKey eq ${escapeKey(tenant)} and RowKey lt ${"~"} and state eq ${"primary"}` } })) {
        const d = fromEntity(e);
        rows.set(d.dekId, d);
      }
    } catch (err) {
      translateTableError(err, `read the primary DEKs of ${tenant}`);
    }
    for (const id of dekIds) {
      if (rows.has(id)) continue;
      const d = await this.get(tenant, id);
      if (d) rows.set(id, d);
    }
    const view = dekVersionView(tenant, [...rows.values()].map((d) => ({ version: d.dekId, state: d.state, createdAt: d.createdAt })));
    return { view, rows };
  }

  /** The Merge updates writing the states the rule book decided, each with If-Match on the row read. */
  private stateActions(tenant: string, changes: Map<string, DekRecord["state"]>, rows: Map<string, StoredDek>): TransactionAction[] {
    const pk = escapeKey(tenant);
    return [...changes].flatMap(([dekId, state]): TransactionAction[] => {
      const row = rows.get(dekId);
      return row ? [["update", { partitionKey: pk, rowKey: dekId, state }, "Merge", { etag: row.etag }]] : [];
    });
  }

  /** Makes `record` the tenant's primary DEK in one transaction: inserts it (state primary), demotes
   * the previous primary to secondary and moves the pointer (If-Match on the pointer). Idempotent:
   * when the pointer already names this dekId, nothing is written. A concurrent promotion → conflict.
   * The rule book decides the states (the new DEK added beside the primary and promoted), so every
   * DEK in state primary steps down and the tenant never has two primaries.
   * `alsoInTransaction`: further actions on rows of the tenant's partition that must commit with the
   * promotion or not at all (the rotation engine settles its intent row this way). */
  async addPrimary(record: DekRecord, opts: { alsoInTransaction?: TransactionAction[] } = {}): Promise<{ promoted: boolean; previous?: string }> {
    checkDekRecord(record);
    if (record.state !== "primary") throw new InvalidRequestError("DekStateInvalid", `[keyrotor] [deks] a new primary DEK must have state primary, not ${record.state}`, { field: "state" });
    await this.indexTenant(record.tenant);
    const pointer = await this.primaryPointer(record.tenant);
    if (pointer?.primaryDekId === record.dekId) return { promoted: false, previous: record.dekId };
    if (pointer && pointer.primaryVersion >= record.dekVersion) {
      throw new InvalidRequestError("DekVersionStale", `[keyrotor] [deks] tenant ${record.tenant} is at DEK v${pointer.primaryVersion}; v${record.dekVersion} cannot become primary`, { field: "dekVersion", status: 409 });
    }
    const { view, rows } = await this.versionView(record.tenant, [record.dekId, ...(pointer ? [pointer.primaryDekId] : [])]);
    const added = { version: record.dekId, createdAt: record.createdAt };
    const after = view.primaryVersion === undefined
      ? add(view, { ...added, state: "primary" })
      : promote(add(view, { ...added, state: "secondary" }), record.dekId, record.createdAt);
    const changes = stateChanges(view, after);
    changes.delete(record.dekId);
    const pk = escapeKey(record.tenant);
    const actions: TransactionAction[] = [["create", toEntity(record)], ...this.stateActions(record.tenant, changes, rows)];
    const next: PointerEntity = { partitionKey: pk, rowKey: PRIMARY_ROW, primaryDekId: record.dekId, primaryVersion: record.dekVersion };
    actions.push(pointer ? ["update", next, "Replace", { etag: pointer.etag }] : ["create", next]);
    actions.push(...(opts.alsoInTransaction ?? []));
    const t = await this.table();
    try {
      await t.submitTransaction(actions);
    } catch (err) {
      translateTableError(err, `promote DEK ${record.tenant}/${record.dekId}`);
    }
    return pointer ? { promoted: true, previous: pointer.primaryDekId } : { promoted: true };
  }

  /** Rollback: makes an existing secondary DEK the tenant's primary again in one transaction (the
   * target becomes primary, the current primary secondary, the pointer consumers resolve moves;
   * If-Match on every row written). Idempotent: when the pointer already names `dekId`, nothing is
   * written. The rule book decides: a retired or revoked DEK is refused (VersionRuleError
   * CannotPromote), one that does not exist with DekUnknown, and nothing changes. */
  async rollBackTo(tenant: string, dekId: string): Promise<{ moved: boolean; previous?: string }> {
    const pointer = await this.primaryPointer(tenant);
    if (pointer?.primaryDekId === dekId) return { moved: false };
    if (!pointer) throw new InvalidRequestError("NoPrimaryDek", `[keyrotor] [deks] tenant ${tenant} has no primary DEK to roll back from`, { status: 409 });
    const { view, rows } = await this.versionView(tenant, [dekId, pointer.primaryDekId]);
    const target = rows.get(dekId);
    if (!target) throw new InvalidRequestError("DekUnknown", `[keyrotor] [deks] no DEK ${tenant}/${dekId}`, { status: 404 });
    const at = new Date().toISOString();
    const after = view.primaryVersion === undefined ? promote(view, dekId, at) : demote(view, view.primaryVersion, dekId, at);
    const pk = escapeKey(tenant);
    const actions = this.stateActions(tenant, stateChanges(view, after), rows);
    const next: PointerEntity = { partitionKey: pk, rowKey: PRIMARY_ROW, primaryDekId: dekId, primaryVersion: target.dekVersion };
    actions.push(["update", next, "Replace", { etag: pointer.etag }]);
    const t = await this.table();
    try {
      await t.submitTransaction(actions);
    } catch (err) {
      translateTableError(err, `roll back the primary DEK of ${tenant} to ${dekId}`);
    }
    return { moved: true, previous: pointer.primaryDekId };
  }

  /** Sets a DEK's state (retire, revoke) with If-Match on the version read. The rule book decides:
   * never the primary, revoked is final, retired never back in use, never a second primary (a DEK
   * becomes primary only through addPrimary or rollBackTo, which move the pointer). */
  async setState(tenant: string, dekId: string, state: DekRecord["state"]): Promise<void> {
    const dek = await this.get(tenant, dekId);
    if (!dek) throw new InvalidRequestError("DekUnknown", `[keyrotor] [deks] no DEK ${tenant}/${dekId}`, { status: 404 });
    if (dek.state === state) return;
    const { view, rows } = await this.versionView(tenant, [dekId]);
    // setVersionState changes only this DEK (anything touching another row is refused).
    stateChanges(view, setVersionState(view, dekId, state));
    const t = await this.table();
    try {
      await t.updateEntity({ partitionKey: escapeKey(tenant), rowKey: dekId, state }, "Merge", { etag: (rows.get(dekId) ?? dek).etag });
    } catch (err) {
      translateTableError(err, `set state of DEK ${tenant}/${dekId}`);
    }
  }

  /** One page of the tenants index. */
  async listTenants(opts: { continuation?: string; limit?: number } = {}): Promise<Page<string>> {
    const t = await this.table();
    try {
      const pages = t.listEntities<{ tenant: string }>({ queryOptions: { filter: odata`PartitionKey eq ${TENANTS_PARTITION}`, select: ["RowKey", "tenant"] } })
        .byPage({ maxPageSize: opts.limit ?? 1000, ...(opts.continuation ? { continuationToken: opts.continuation } : {}) });
      const first = await pages.next();
      if (first.done) return { items: [], continuation: undefined };
      return { items: first.value.map((e) => e.tenant ?? unescapeKey(e.rowKey ?? "")), continuation: first.value.continuationToken };
    } catch (err) {
      translateTableError(err, "list tenants");
    }
  }

  /** Every tenant, streamed page by page. */
  async *tenants(pageSize = 1000): AsyncIterable<string> {
    let continuation: string | undefined;
    do {
      const page = await this.listTenants({ continuation, limit: pageSize });
      yield* page.items;
      continuation = page.continuation;
    } while (continuation);
  }

  /** One page of a tenant's DEKs, in dekId order. With `notUnder`, DEKs already wrapped under that
   * KEK version are filtered out server-side (a resumed rewrap reads only what is left). */
  async scanRange(tenant: string, opts: { continuation?: string; limit?: number; notUnder?: RewrapTarget } = {}): Promise<Page<StoredDek>> {
    const t = await this.table();
    const pk = escapeKey(tenant);
    let filter = odata`PartitionKey eq ${pk} and RowKey lt ${"~"}`;
    if (opts.notUnder) filter += ` and ${odata`(kekKeyId ne ${opts.notUnder.kekKeyId} or kekVersion ne ${opts.notUnder.kekVersion})`}`;
    try {
      const pages = t.listEntities<DekEntity>({ queryOptions: { filter } })
        .byPage({ maxPageSize: Math.min(opts.limit ?? 1000, 1000), ...(opts.continuation ? { continuationToken: opts.continuation } : {}) });
      const first = await pages.next();
      if (first.done) return { items: [], continuation: undefined };
      return { items: first.value.map(fromEntity), continuation: first.value.continuationToken };
    } catch (err) {
      translateTableError(err, `scan DEKs of ${tenant}`);
    }
  }

  /** How many DEKs reference this KEK version (the zero-reference proof before disabling it).
   * Streams the table (or one tenant's partition) page by page, reading only keys. */
  async countByKekVersion(kekKeyId: string, kekVersion: string, opts: { tenant?: string } = {}): Promise<number> {
    let filter = odata`kekKeyId eq ${kekKeyId} and kekVersion eq ${kekVersion}`;
    if (opts.tenant) filter = `${odata`PartitionKey eq ${escapeKey(opts.tenant)}`} and ${filter}`;
    const t = await this.table();
    let n = 0;
    try {
      for await (const page of t.listEntities({ queryOptions: { filter, select: ["RowKey"] } }).byPage({ maxPageSize: 1000 })) n += page.length;
    } catch (err) {
      translateTableError(err, `count DEKs under ${kekKeyId}#${kekVersion}`);
    }
    return n;
  }

  /** DEK count per KEK version of one KEK, in one streamed pass. */
  async countsByKekVersion(kekKeyId: string, opts: { tenant?: string } = {}): Promise<Record<string, number>> {
    let filter = odata`kekKeyId eq ${kekKeyId}`;
    if (opts.tenant) filter = `${odata`PartitionKey eq ${escapeKey(opts.tenant)}`} and ${filter}`;
    const t = await this.table();
    const counts: Record<string, number> = {};
    try {
      for await (const page of t.listEntities<{ kekVersion: string }>({ queryOptions: { filter, select: ["kekVersion"] } }).byPage({ maxPageSize: 1000 })) {
        for (const e of page) counts[e.kekVersion] = (counts[e.kekVersion] ?? 0) + 1;
      }
    } catch (err) {
      translateTableError(err, `count DEKs under ${kekKeyId}`);
    }
    return counts;
  }

  /** One leg of countsByKekVersion: reads at most `maxRows` rows (whole pages of ≤1000) from
   * `continuation` and returns their counts per KEK version with the token to go on from (undefined
   * at the end). The rotation engine runs one leg per activity, so no activity counts 1M rows. */
  async countsByKekVersionPage(kekKeyId: string, opts: { continuation?: string; maxRows: number }): Promise<{ counts: Record<string, number>; rows: number; continuation?: string }> {
    const t = await this.table();
    const counts: Record<string, number> = {};
    let rows = 0;
    let continuation = opts.continuation;
    try {
      do {
        const pages = t.listEntities<{ kekVersion: string }>({ queryOptions: { filter: odata`kekKeyId eq ${kekKeyId}`, select: ["kekVersion"] } })
          .byPage({ maxPageSize: 1000, ...(continuation ? { continuationToken: continuation } : {}) });
        const page = await pages.next();
        if (page.done) {
          continuation = undefined;
          break;
        }
        for (const e of page.value) counts[e.kekVersion] = (counts[e.kekVersion] ?? 0) + 1;
        rows += page.value.length;
        continuation = page.value.continuationToken;
      } while (continuation && rows < opts.maxRows);
    } catch (err) {
      translateTableError(err, `count DEKs under ${kekKeyId}`);
    }
    return { counts, rows, ...(continuation ? { continuation } : {}) };
  }

  /** Rewraps `items` (one tenant's, e.g. a scanRange page) under `target` and writes them back in
   * transactions of ≤100 with If-Match ETags. A DEK already under the target is skipped. A 412 means
   * a DEK changed meanwhile: the chunk's DEKs are re-read, changed ones rewrapped again from their
   * new contents, and the transaction retried — a concurrent write is never overwritten. Only the
   * wrap fields are merged, so a concurrent state change survives too. Returns counts only. */
  async rewrapBatch(tenant: string, items: readonly StoredDek[], target: RewrapTarget, rewrap: RewrapFn, opts: RewrapOptions = {}): Promise<RewrapCounts> {
    const counts: RewrapCounts = { rewrapped: 0, skipped: 0, conflicts: 0, missing: 0 };
    const concurrency = opts.concurrency ?? 16;
    const maxRetries = opts.maxConflictRetries ?? 8;
    const now = opts.now ?? (() => new Date());
    const pk = escapeKey(tenant);
    const todo: StoredDek[] = [];
    for (const d of items) {
      if (d.tenant !== tenant) throw new InvalidRequestError("DekTenantMismatch", `[keyrotor] [deks] rewrapBatch for ${tenant} got a DEK of ${d.tenant}`);
      if (underTarget(d, target)) counts.skipped++;
      else todo.push(d);
    }
    const t = await this.table();

    const computeAll = async (chunk: StoredDek[], out: Map<string, Uint8Array>) => {
      const missingWork = chunk.filter((d) => !out.has(d.dekId));
      await forEachLimited(missingWork, concurrency, async (d) => {
        out.set(d.dekId, await rewrap(d));
      });
    };

    const commit = async (initial: StoredDek[], wrapped: Map<string, Uint8Array>) => {
      let chunk = initial;
      for (let attempt = 0; chunk.length > 0; attempt++) {
        await computeAll(chunk, wrapped);
        const at = now().toISOString();
        const actions = chunk.map((d): TransactionAction => [
          "update",
          { partitionKey: pk, rowKey: d.dekId, kekKeyId: target.kekKeyId, kekVersion: target.kekVersion, alg: target.alg ?? d.alg, wrapped: Buffer.from(wrapped.get(d.dekId)!).toString("base64url"), rewrappedAt: at },
          "Merge",
          { etag: d.etag },
        ]);
        try {
          await t.submitTransaction(actions);
          counts.rewrapped += chunk.length;
          return;
        } catch (err) {
          if (statusOf(err) !== 412 && statusOf(err) !== 404 && tableErrorCode(err) !== "ResourceNotFound") translateTableError(err, `rewrap DEKs of ${tenant}`);
          counts.conflicts++;
          if (attempt + 1 >= maxRetries) {
            throw new RotationConflictError("RewrapContended", `[keyrotor] [deks] DEKs of ${tenant} kept changing during rewrap (${maxRetries} attempts); retry the range`, { cause: err });
          }
          chunk = await this.reread(chunk, target, wrapped, counts);
        }
      }
    };

    let inFlight: Promise<void> | undefined;
    try {
      for (let i = 0; i < todo.length; i += MAX_TRANSACTION) {
        const chunk = todo.slice(i, i + MAX_TRANSACTION);
        const wrapped = new Map<string, Uint8Array>();
        await computeAll(chunk, wrapped); // overlaps with the previous chunk's commit
        if (inFlight) await inFlight;
        inFlight = commit(chunk, wrapped);
      }
      if (inFlight) await inFlight;
    } catch (err) {
      if (inFlight) await inFlight.catch(() => undefined);
      throw err;
    }
    return counts;
  }

  /** After a 412: the chunk's DEKs as they are now. Unchanged ones keep their computed wrap. */
  private async reread(chunk: StoredDek[], target: RewrapTarget, wrapped: Map<string, Uint8Array>, counts: RewrapCounts): Promise<StoredDek[]> {
    const fresh = await Promise.all(chunk.map((d) => this.get(d.tenant, d.dekId)));
    const next: StoredDek[] = [];
    chunk.forEach((old, i) => {
      const now = fresh[i];
      if (!now) {
        counts.missing++;
        wrapped.delete(old.dekId);
      } else if (underTarget(now, target)) {
        counts.skipped++;
        wrapped.delete(old.dekId);
      } else {
        if (now.etag !== old.etag) wrapped.delete(old.dekId);
        next.push(now);
      }
    });
    return next;
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
