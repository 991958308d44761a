// The branch-key table (Table Storage, default name `branchkeys`):
//
//   PartitionKey = "b|<kekKeyId>"  RowKey = "<branchId>~v<version>"  one branch-key version
//   PartitionKey = "a|<kekKeyId>"  RowKey = <tenant>                 the tenant's stored assignment
//   PartitionKey = "r"             RowKey = <runId>                  a hierarchy workflow's checkpoint
//
// Branch keys of one KEK share a partition: there are few (256 shared + the dedicated ones), a KEK
// rotation reads them in one scan and re-wraps them with If-Match updates. Assignments are stored
// (not recomputed) so changing the count of shared branch keys later never moves an existing
// tenant; they are checked against the signed branch record before use (lib/domain/branchKeys.ts
// checkTenantBranch).
import { odata, type TableClient, type TableEntityResult } from "@azure/data-tables";
import { InvariantViolationError, RotationConflictError } from "../domain/errors";
import { branchRowKey } from "../domain/branchKeys";
import { ensureTable, getRowOrUndefined, escapeKey, statusOf, translateTableError, unescapeKey } from "../stores/tables";
import { checkBranchRecord, type BranchKeyRecord, type BranchState } from "./records";

export interface StoredBranchKey extends BranchKeyRecord {
  etag: string;
  /** The KEK-rotation run that wrote the current wrap after proving its sample under the new KEK
   * version (lib/hierarchy/validate.ts); absent on records created or re-wrapped any other way. */
  rewrapRun?: string;
}

export interface Assignment {
  tenant: string;
  kekKeyId: string;
  branchId: string;
}

const bpk = (kekKeyId: string) => `b|${escapeKey(kekKeyId)}`;
const apk = (kekKeyId: string) => `a|${escapeKey(kekKeyId)}`;
const RUNS = "r";
/** Characters per part of a checkpoint's state (a Table string property holds at most 32K). */
const RUN_PART = 30_000;

type BranchEntity = Omit<BranchKeyRecord, never> & { partitionKey: string; rowKey: string };

function fromEntity(e: TableEntityResult<BranchEntity>): StoredBranchKey {
  const { partitionKey: pk, rowKey: rk, etag, timestamp: _ts, ...rest } = e as TableEntityResult<BranchEntity> & { timestamp?: string };
  checkPlacement(pk, rk, rest);
  return { ...(rest), etag };
}

/** The signature covers a record's identity (KEK, branch id, version), not the row it sits in: a
 * signed record copied to another row would pass as the version that row names (a rotation would
 * plan from it and destroy the real one; a tenant's DEKs would go under another tenant's key). So
 * every read refuses, as forged, a record whose identity is not its partition and row key. */
function checkPlacement(pk: string | undefined, rk: string | undefined, r: Pick<BranchKeyRecord, "kekKeyId" | "branchId" | "version">): void {
  const at = Number.isInteger(r.version) && r.version >= 1 ? branchRowKey(String(r.branchId), r.version) : undefined;
  if (typeof r.kekKeyId === "string" && pk === bpk(r.kekKeyId) && at !== undefined && rk === at) return;
  throw new InvariantViolationError("BranchRecordMisplaced", `[keyrotor] [hierarchy] the branch-key row ${String(pk)}/${String(rk)} holds the record of ${String(r.kekKeyId)} ${String(r.branchId)}#${String(r.version)}: a record copied to another row is forged; refusing it`);
}

export class BranchKeyStore {
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {}

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create branch-key table");
    });
    return this.ready;
  }

  // ---- branch-key versions ------------------------------------------------------------------

  /** Inserts a new version. Idempotent by (kek, branchId, version): when that row exists the stored
   * one is returned (created: false) and the caller uses it instead of its own, so a crashed and
   * retried creation never leaves two keys under one name. */
  async create(r: BranchKeyRecord): Promise<{ record: StoredBranchKey; created: boolean }> {
    checkBranchRecord(r);
    const t = await this.table();
    try {
      const res = await t.createEntity({ partitionKey: bpk(r.kekKeyId), rowKey: branchRowKey(r.branchId, r.version), ...r });
      return { record: { ...r, etag: res.etag ?? "" }, created: true };
    } catch (err) {
      if (statusOf(err) !== 409) translateTableError(err, `create branch key ${r.branchId}#${r.version}`);
    }
    const existing = await this.get(r.kekKeyId, r.branchId, r.version);
    if (!existing) throw new RotationConflictError("BranchKeyRace", `[keyrotor] [hierarchy] branch key ${r.branchId}#${r.version} existed and vanished`);
    return { record: existing, created: false };
  }

  async get(kekKeyId: string, branchId: string, version: number): Promise<StoredBranchKey | undefined> {
    const t = await this.table();
    const row = await getRowOrUndefined<BranchEntity>(t, bpk(kekKeyId), branchRowKey(branchId, version), `get branch key ${branchId}#${version}`);
    return row && fromEntity(row);
  }

  /** Every version of one branch key, oldest first. */
  async versions(kekKeyId: string, branchId: string): Promise<StoredBranchKey[]> {
    return this.query(kekKeyId, odata`PartitionKey eq ${bpk(kekKeyId)} and RowKey ge ${`${branchId}~`} and RowKey lt ${`${branchId}~w`}`);
  }

  /** Every branch-key version of a KEK (a few hundred rows: read at once). */
  async all(kekKeyId: string): Promise<StoredBranchKey[]> {
    return this.query(kekKeyId, odata`PartitionKey eq ${bpk(kekKeyId)}`);
  }

  /** Whether the KEK has any branch-key record: the first row of its partition, one column of it
   * (a tenant's DEK rotation asks this; reading all of them would cost a row per branch key). A
   * page may come back empty with a continuation, so pages are followed until one has a row. */
  async hasAny(kekKeyId: string): Promise<boolean> {
    const t = await this.table();
    try {
      const pages = t.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${bpk(kekKeyId)}`, select: ["RowKey"] } }).byPage({ maxPageSize: 1 });
      for await (const page of pages) if (page.length > 0) return true;
    } catch (err) {
      translateTableError(err, `look for branch keys of ${kekKeyId}`);
    }
    return false;
  }

  /** The versions still wrapped under a KEK version other than `kekVersion` (what a KEK rotation
   * has left to do). */
  async notUnder(kekKeyId: string, kekVersion: string): Promise<StoredBranchKey[]> {
    return this.query(kekKeyId, odata`PartitionKey eq ${bpk(kekKeyId)} and kekVersion ne ${kekVersion}`);
  }

  async countUnder(kekKeyId: string, kekVersion: string): Promise<number> {
    return (await this.query(kekKeyId, odata`PartitionKey eq ${bpk(kekKeyId)} and kekVersion eq ${kekVersion}`)).length;
  }

  private async query(kekKeyId: string, filter: string): Promise<StoredBranchKey[]> {
    const t = await this.table();
    const out: StoredBranchKey[] = [];
    try {
      for await (const e of t.listEntities<BranchEntity>({ queryOptions: { filter } })) out.push(fromEntity(e));
    } catch (err) {
      translateTableError(err, `list branch keys of ${kekKeyId}`);
    }
    return out;
  }

  /** Replaces the wrap of a version (KEK rotation), If-Match on the row read; `runId` marks the wrap
   * as written by that run after its proof sample (empty: no mark). */
  async rewrap(r: StoredBranchKey, kekVersion: string, wrapped: string, runId = ""): Promise<void> {
    const t = await this.table();
    try {
      await t.updateEntity({ partitionKey: bpk(r.kekKeyId), rowKey: branchRowKey(r.branchId, r.version), kekVersion, wrapped, rewrapRun: runId }, "Merge", { etag: r.etag });
    } catch (err) {
      translateTableError(err, `re-wrap branch key ${r.branchId}#${r.version}`);
    }
  }

  async setState(r: StoredBranchKey, state: BranchState): Promise<void> {
    if (r.state === state) return;
    const t = await this.table();
    try {
      await t.updateEntity({ partitionKey: bpk(r.kekKeyId), rowKey: branchRowKey(r.branchId, r.version), state }, "Merge", { etag: r.etag });
    } catch (err) {
      translateTableError(err, `set state of branch key ${r.branchId}#${r.version}`);
    }
  }

  /** Destroys a version (emergency: its key material was under a compromised KEK). Idempotent. */
  async destroy(kekKeyId: string, branchId: string, version: number): Promise<void> {
    const t = await this.table();
    try {
      await t.deleteEntity(bpk(kekKeyId), branchRowKey(branchId, version));
    } catch (err) {
      if (statusOf(err) === 404) return;
      translateTableError(err, `destroy branch key ${branchId}#${version}`);
    }
  }

  // ---- assignments --------------------------------------------------------------------------

  async assignment(kekKeyId: string, tenant: string): Promise<Assignment | undefined> {
    const t = await this.table();
    const e = await getRowOrUndefined<{ branchId: string }>(t, apk(kekKeyId), escapeKey(tenant), `get the branch assignment of ${tenant}`);
    if (!e) return undefined;
    return { tenant, kekKeyId, branchId: e.branchId };
  }

  /** Stores the tenant's assignment if it has none; returns the stored one either way. */
  async assign(a: Assignment): Promise<Assignment> {
    const t = await this.table();
    try {
      await t.createEntity({ partitionKey: apk(a.kekKeyId), rowKey: escapeKey(a.tenant), branchId: a.branchId });
      return a;
    } catch (err) {
      if (statusOf(err) !== 409) translateTableError(err, `assign ${a.tenant} to ${a.branchId}`);
    }
    return (await this.assignment(a.kekKeyId, a.tenant)) ?? a;
  }

  /** Tenants of a KEK (optionally of one branch key), page by page. */
  async *tenants(kekKeyId: string, branchId?: string): AsyncIterable<Assignment[]> {
    const t = await this.table();
    let filter = odata`PartitionKey eq ${apk(kekKeyId)}`;
    if (branchId) filter += ` and ${odata`branchId eq ${branchId}`}`;
    try {
      for await (const page of t.listEntities<{ branchId: string }>({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 })) {
        yield page.map((e) => ({ tenant: unescapeKey(e.rowKey ?? ""), kekKeyId, branchId: e.branchId }));
      }
    } catch (err) {
      translateTableError(err, `list tenants of ${kekKeyId}`);
    }
  }

  // ---- workflow checkpoints -----------------------------------------------------------------

  async run<S>(runId: string): Promise<{ state: S; etag: string } | undefined> {
    const t = await this.table();
    const e = await getRowOrUndefined<Record<string, unknown> & { state: string }>(t, RUNS, escapeKey(runId), `read run ${runId}`);
    if (!e) return undefined;
    let json = e.state;
    for (let n = 1; typeof e[`state${n}`] === "string"; n++) json += e[`state${n}`] as string;
    return { state: JSON.parse(json) as S, etag: e.etag };
  }

  /** Writes a checkpoint; If-Match on the one read (a second runner of the same run loses). A
   * string property holds at most 32K characters, so a long state (a run's plan of many branch
   * keys) is split over `state`, `state1`, `state2`… (Replace drops parts a shorter state left). */
  async saveRun<S>(runId: string, state: S, etag?: string): Promise<string> {
    const t = await this.table();
    const json = JSON.stringify(state);
    const entity: Record<string, string> & { partitionKey: string; rowKey: string } = { partitionKey: RUNS, rowKey: escapeKey(runId), state: json.slice(0, RUN_PART) };
    for (let n = 1; n * RUN_PART < json.length; n++) entity[`state${n}`] = json.slice(n * RUN_PART, (n + 1) * RUN_PART);
    try {
      const res = etag ? await t.updateEntity(entity, "Replace", { etag }) : await t.createEntity(entity);
      return res.etag ?? "";
    } catch (err) {
      translateTableError(err, `checkpoint run ${runId}`);
    }
  }
}
