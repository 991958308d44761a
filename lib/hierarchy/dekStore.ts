// Format-2 DEKs (wrapped under branch keys) in their own table (default `branchdeks`):
//
//   PartitionKey = tenant   RowKey = dekId (v00000001…)   one DEK
//   PartitionKey = tenant   RowKey = "~primary"           the tenant's primary-DEK pointer
//
// Why a table of their own, not format-2 rows beside format-1 ones in `deks`: the flat workflow's
// scans, rewraps and zero-reference counts filter by kekKeyId/kekVersion and would meet rows they
// cannot read; with two tables neither workflow ever sees the other's rows, and migrating a DEK
// is "create here, then delete there" (consumers read here first, so the order is safe).
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { dekIdFor } from "../envelope/dekRecord";
import { ensureTable, getRowOrUndefined, escapeKey, statusOf, translateTableError } from "../stores/tables";
import { checkHierarchyDek, type HierarchyDekRecord } from "./records";

export const PRIMARY_ROW = "~primary";
const MAX_TRANSACTION = 100;

export interface StoredHierarchyDek extends HierarchyDekRecord {
  etag: string;
}

type Entity = HierarchyDekRecord & { partitionKey: string; rowKey: string } & Record<string, unknown>;

function fromEntity(e: TableEntityResult<Entity>): StoredHierarchyDek {
  const { partitionKey: _pk, rowKey, etag, timestamp: _ts, rewrappedAt: _at, ...rest } = e as TableEntityResult<Entity> & { timestamp?: string; rewrappedAt?: string };
  return { ...(rest as HierarchyDekRecord), dekId: rowKey ?? rest.dekId, etag };
}

/** The AAD binds a wrap to the tenant and DEK version inside its record, not to the row it sits
 * in: a row copied to another tenant's partition or another version's row key would still
 * authenticate, so a read compares the record's identity with where it was found. */
function checkDekPlacement(tenant: string, dekId: string, r: StoredHierarchyDek): StoredHierarchyDek {
  const chainRow = /^v[0-9]{8}$/.test(dekId);
  const versionRow = Number.isInteger(r.dekVersion) && r.dekVersion >= 1 ? dekIdFor(r.dekVersion) : undefined;
  if (r.tenant === tenant && (!chainRow || versionRow === dekId)) return r;
  throw new InvariantViolationError("DekRecordMisplaced", `[keyrotor] [hierarchy] the DEK row ${tenant}/${dekId} holds the record of ${String(r.tenant)} v${String(r.dekVersion)}: a DEK copied to another tenant or version is forged; refusing it`);
}

const toEntity = (r: HierarchyDekRecord): Entity => ({ partitionKey: escapeKey(r.tenant), rowKey: r.dekId, ...r });

export interface TenantPartition {
  deks: StoredHierarchyDek[];
  /** The tenant's primary-DEK pointer row, absent before its first format-2 DEK. */
  pointer?: { primaryDekId: string; etag: string };
}

export interface Rewrite {
  dek: StoredHierarchyDek;
  branchVersion: number;
  wrapped: string;
}

export class HierarchyDekStore {
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {}

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create branch DEK table");
    });
    return this.ready;
  }

  /** Refuses (DekRecordMisplaced) a row whose record is not the one asked for: another tenant's
   * record in this partition, or a chain row (v0000000N) holding another DEK version. */
  async get(tenant: string, dekId: string): Promise<StoredHierarchyDek | undefined> {
    const t = await this.table();
    const row = await getRowOrUndefined<Entity>(t, escapeKey(tenant), dekId, `get DEK ${tenant}/${dekId}`);
    return row && checkDekPlacement(tenant, dekId, fromEntity(row));
  }

  async getPrimary(tenant: string): Promise<StoredHierarchyDek | undefined> {
    const t = await this.table();
    const pointer = await getRowOrUndefined<{ primaryDekId: string }>(t, escapeKey(tenant), PRIMARY_ROW, `get the primary DEK pointer of ${tenant}`);
    if (!pointer) return undefined;
    return this.get(tenant, pointer.primaryDekId);
  }

  /** A tenant's whole partition in one query: its DEKs and its primary pointer. A DEK rotation reads
   * it once (which versions exist, whether a retry already wrote its DEK) and hands it to put(),
   * which then reads neither the pointer nor the previous primary again. */
  async partition(tenant: string): Promise<TenantPartition> {
    const t = await this.table();
    const out: TenantPartition = { deks: [] };
    try {
      for await (const e of t.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${escapeKey(tenant)}` } })) {
        if (e.rowKey === PRIMARY_ROW) out.pointer = { primaryDekId: String(e.primaryDekId), etag: e.etag };
        else out.deks.push(fromEntity(e));
      }
    } catch (err) {
      translateTableError(err, `read DEKs of ${tenant}`);
    }
    return out;
  }

  /** Inserts a DEK; a primary one moves the tenant's pointer in the same transaction (the previous
   * primary becomes secondary). Idempotent: the same record again is a no-op. With `read` (the
   * tenant's partition as the caller read it) the previous primary and the pointer are taken from
   * it, and the transaction holds If-Match on both (created, when there was no pointer), so a change
   * since that read fails the write instead of being overwritten. */
  async put(r: HierarchyDekRecord, read?: TenantPartition): Promise<void> {
    checkHierarchyDek(r);
    const t = await this.table();
    const pk = escapeKey(r.tenant);
    const actions: TransactionAction[] = [["create", toEntity(r)]];
    if (r.state === "primary") {
      const previous = read ? read.deks.find((d) => d.dekId === read.pointer?.primaryDekId) : await this.getPrimary(r.tenant);
      if (previous && previous.dekVersion >= r.dekVersion && previous.dekId !== r.dekId) {
        throw new InvalidRequestError("DekVersionStale", `[keyrotor] [hierarchy] tenant ${r.tenant} is at DEK v${previous.dekVersion}; v${r.dekVersion} cannot become primary`, { status: 409 });
      }
      if (previous && previous.dekId !== r.dekId) actions.push(["update", { partitionKey: pk, rowKey: previous.dekId, state: "secondary" }, "Merge", { etag: previous.etag }]);
      const pointer = { partitionKey: pk, rowKey: PRIMARY_ROW, primaryDekId: r.dekId, primaryVersion: r.dekVersion };
      if (!read) actions.push(["upsert", pointer, "Replace"]);
      else actions.push(read.pointer ? ["update", pointer, "Replace", { etag: read.pointer.etag }] : ["create", pointer]);
    }
    try {
      await t.submitTransaction(actions);
    } catch (err) {
      const existing = await this.get(r.tenant, r.dekId).catch(() => undefined);
      if (existing && existing.wrapped === r.wrapped) return;
      if (existing) throw new RotationConflictError("DekExists", `[keyrotor] [hierarchy] DEK ${r.tenant}/${r.dekId} already exists with other contents`, { cause: err });
      translateTableError(err, `put DEK ${r.tenant}/${r.dekId}`);
    }
  }

  /** Bulk insert-or-replace (seeding, migration), ≤100 per transaction, one tenant per call. */
  async putMany(tenant: string, records: readonly HierarchyDekRecord[]): Promise<void> {
    const t = await this.table();
    for (let i = 0; i < records.length; i += MAX_TRANSACTION) {
      const chunk = records.slice(i, i + MAX_TRANSACTION);
      const actions = chunk.map((r): TransactionAction => {
        if (r.tenant !== tenant) throw new InvalidRequestError("DekTenantMismatch", `[keyrotor] [hierarchy] putMany for ${tenant} got a DEK of ${r.tenant}`);
        return ["upsert", toEntity(checkHierarchyDek(r)), "Replace"];
      });
      try {
        await t.submitTransaction(actions);
      } catch (err) {
        translateTableError(err, `bulk put DEKs of ${tenant}`);
      }
    }
  }

  /** Moves the tenant's primary pointer to `dekId` only when it has none or names an older version
   * (If-Match on the pointer read; a create when there is none): a migration running beside a
   * tenant's DEK rotation never moves the pointer back below the rotation's newer primary. True when
   * the pointer names `dekId` afterwards, false when a newer version holds it. */
  async movePrimaryPointerUp(tenant: string, dekId: string, dekVersion: number): Promise<boolean> {
    const t = await this.table();
    const pk = escapeKey(tenant);
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await getRowOrUndefined<{ primaryDekId: string; primaryVersion: number }>(t, pk, PRIMARY_ROW, `get the primary DEK pointer of ${tenant}`);
      if (cur?.primaryDekId === dekId) return true;
      if (cur && Number(cur.primaryVersion) >= dekVersion) return false;
      const entity = { partitionKey: pk, rowKey: PRIMARY_ROW, primaryDekId: dekId, primaryVersion: dekVersion };
      try {
        if (cur) await t.updateEntity(entity, "Replace", { etag: cur.etag });
        else await t.createEntity(entity);
        return true;
      } catch (err) {
        // Moved (412) or made (409) meanwhile: read it again.
        const status = statusOf(err);
        if (status !== 412 && status !== 409) translateTableError(err, `move the primary DEK pointer of ${tenant}`);
      }
    }
    throw new RotationConflictError("DekPointerChanging", `[keyrotor] [hierarchy] the primary DEK pointer of ${tenant} kept changing; retry later`);
  }

  async setPrimaryPointer(tenant: string, dekId: string, dekVersion: number): Promise<void> {
    const t = await this.table();
    try {
      await t.upsertEntity({ partitionKey: escapeKey(tenant), rowKey: PRIMARY_ROW, primaryDekId: dekId, primaryVersion: dekVersion }, "Replace");
    } catch (err) {
      translateTableError(err, `set the primary DEK pointer of ${tenant}`);
    }
  }

  /** One page (≤1000) of every DEK of a KEK, across partitions in key order: the emergency's single
   * pass (one query stream instead of one per tenant; the local emulator scans the whole table for
   * every query, and Table Storage serves a cross-partition scan as one ordered stream). */
  async scanKek(kekKeyId: string, continuation?: string): Promise<{ items: StoredHierarchyDek[]; continuation: string | undefined }> {
    const t = await this.table();
    try {
      const pages = t.listEntities<Entity>({ queryOptions: { filter: odata`kekKeyId eq ${kekKeyId}` } }).byPage({ maxPageSize: 1000, ...(continuation ? { continuationToken: continuation } : {}) });
      const first = await pages.next();
      if (first.done) return { items: [], continuation: undefined };
      return { items: first.value.map(fromEntity), continuation: first.value.continuationToken };
    } catch (err) {
      translateTableError(err, `scan DEKs of ${kekKeyId}`);
    }
  }

  /** One page (≤1000) of a tenant's DEKs. */
  async scan(tenant: string, continuation?: string): Promise<{ items: StoredHierarchyDek[]; continuation: string | undefined }> {
    return this.page(tenant, odata`PartitionKey eq ${escapeKey(tenant)} and RowKey lt ${"~"}`, continuation);
  }

  /** One page (≤1000) of a tenant's DEKs NOT under (branchId, branchVersion): what a branch-key
   * rotation or an emergency has left to do in that partition. */
  async notUnder(tenant: string, branchId: string, branchVersion: number, continuation?: string): Promise<{ items: StoredHierarchyDek[]; continuation: string | undefined }> {
    return this.page(tenant, odata`PartitionKey eq ${escapeKey(tenant)} and RowKey lt ${"~"} and (branchId ne ${branchId} or branchVersion ne ${branchVersion})`, continuation);
  }

  private async page(tenant: string, filter: string, continuation?: string): Promise<{ items: StoredHierarchyDek[]; continuation: string | undefined }> {
    const t = await this.table();
    try {
      const pages = t.listEntities<Entity>({ queryOptions: { filter } }).byPage({ maxPageSize: 1000, ...(continuation ? { continuationToken: continuation } : {}) });
      const first = await pages.next();
      if (first.done) return { items: [], continuation: undefined };
      return { items: first.value.map(fromEntity), continuation: first.value.continuationToken };
    } catch (err) {
      translateTableError(err, `scan DEKs of ${tenant}`);
    }
  }

  /** DEKs of a KEK wrapped under a given branch-key version (the proof before destroying it). */
  async countUnderBranch(kekKeyId: string, branchId: string, branchVersion: number, tenant?: string): Promise<number> {
    const t = await this.table();
    let filter = odata`kekKeyId eq ${kekKeyId} and branchId eq ${branchId} and branchVersion eq ${branchVersion}`;
    if (tenant) filter = `${odata`PartitionKey eq ${escapeKey(tenant)}`} and ${filter}`;
    let n = 0;
    try {
      for await (const page of t.listEntities({ queryOptions: { filter, select: ["RowKey"] } }).byPage({ maxPageSize: 1000 })) n += page.length;
    } catch (err) {
      translateTableError(err, `count DEKs under ${branchId}#${branchVersion}`);
    }
    return n;
  }

  /** DEK count per branch-key version ("<branchId>#<version>") of a KEK, in one streamed pass that
   * reads two columns: the proof before old branch-key versions are destroyed. */
  async countsByBranchVersion(kekKeyId: string): Promise<Map<string, number>> {
    const t = await this.table();
    const counts = new Map<string, number>();
    try {
      const rows = t.listEntities<{ branchId: string; branchVersion: number }>({ queryOptions: { filter: odata`kekKeyId eq ${kekKeyId}`, select: ["branchId", "branchVersion"] } });
      for await (const page of rows.byPage({ maxPageSize: 1000 })) {
        for (const e of page) counts.set(`${e.branchId}#${e.branchVersion}`, (counts.get(`${e.branchId}#${e.branchVersion}`) ?? 0) + 1);
      }
    } catch (err) {
      translateTableError(err, `count DEKs of ${kekKeyId} by branch key`);
    }
    return counts;
  }

  /** DEKs of a KEK under a version BELOW the given one of their branch key ("<branchId>#<version>"
   * → count): what a branch-key replacement has left. One query that returns only those rows (none
   * once the re-wrap is complete), not a pass over every DEK. With few branch keys the filter names
   * each one; with many it asks for versions below the highest target and the rows are sorted out
   * here. */
  async countBelow(kekKeyId: string, below: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const t = await this.table();
    const counts = new Map<string, number>();
    if (below.size === 0) return counts;
    const precise = [...below].map(([branchId, v]) => `(${odata`branchId eq ${branchId} and branchVersion lt ${v}`})`);
    const filter = below.size <= 8
      ? `${odata`kekKeyId eq ${kekKeyId}`} and (${precise.join(" or ")})`
      : odata`kekKeyId eq ${kekKeyId} and branchVersion lt ${Math.max(...below.values())}`;
    try {
      const rows = t.listEntities<{ branchId: string; branchVersion: number }>({ queryOptions: { filter, select: ["branchId", "branchVersion"] } });
      for await (const page of rows.byPage({ maxPageSize: 1000 })) {
        for (const e of page) {
          const limit = below.get(e.branchId);
          if (limit === undefined || e.branchVersion >= limit) continue;
          counts.set(`${e.branchId}#${e.branchVersion}`, (counts.get(`${e.branchId}#${e.branchVersion}`) ?? 0) + 1);
        }
      }
    } catch (err) {
      translateTableError(err, `count DEKs of ${kekKeyId} left under old branch keys`);
    }
    return counts;
  }

  /** Writes new wraps of one tenant's DEKs in transactions of ≤100, If-Match on each row read, so a
   * concurrent change is never overwritten (the caller re-reads and retries the partition). */
  async rewrite(tenant: string, rewrites: readonly Rewrite[]): Promise<number> {
    const t = await this.table();
    const pk = escapeKey(tenant);
    let n = 0;
    for (let i = 0; i < rewrites.length; i += MAX_TRANSACTION) {
      const chunk = rewrites.slice(i, i + MAX_TRANSACTION);
      try {
        await t.submitTransaction(chunk.map((w): TransactionAction => ["update", { partitionKey: pk, rowKey: w.dek.dekId, branchVersion: w.branchVersion, wrapped: w.wrapped }, "Merge", { etag: w.dek.etag }]));
      } catch (err) {
        translateTableError(err, `re-wrap DEKs of ${tenant}`);
      }
      n += chunk.length;
    }
    return n;
  }
}
