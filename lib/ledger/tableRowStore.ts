// RowStore on Azure Table Storage (@azure/data-tables). One commit = one entity group transaction
// (one partition, all or nothing); a conflict is 409 EntityAlreadyExists (a row we create exists)
// or 412 UpdateConditionNotSatisfied (the head row's ETag changed).
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { queryPages } from "../stores/tableQuery";
import { ensureTable, getRowOrUndefined, statusOf, translateTableError } from "../stores/tables";
import type { RowProps } from "./entry";
import type { CommitResult, HeadWrite, ListRange, RowStore, StoredRow } from "./rowStore";

const SYSTEM_PROPS = new Set(["partitionKey", "rowKey", "etag", "timestamp", "odata.metadata", "odata.etag"]);

function propsOf(entity: TableEntityResult<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entity)) if (!SYSTEM_PROPS.has(k)) out[k] = v;
  return out;
}

export class TableRowStore implements RowStore {
  constructor(private readonly client: TableClient, private readonly what: string) {}

  private async table(): Promise<TableClient> {
    try {
      return await ensureTable(this.client);
    } catch (err) {
      return translateTableError(err, `[${this.what}] create table ${this.client.tableName}`);
    }
  }

  async get(pk: string, rk: string): Promise<{ props: Record<string, unknown>; etag: string } | undefined> {
    const t = await this.table();
    const e = await getRowOrUndefined<Record<string, unknown>>(t, pk, rk, `[${this.what}] read ${pk}/${rk}`);
    if (!e) return undefined;
    return { props: propsOf(e), etag: e.etag };
  }

  async commit(pk: string, creates: { rowKey: string; props: RowProps }[], head: HeadWrite): Promise<CommitResult> {
    const t = await this.table();
    const actions: TransactionAction[] = creates.map((c) => ["create", { partitionKey: pk, rowKey: c.rowKey, ...c.props }]);
    const headEntity = { partitionKey: pk, rowKey: head.rowKey, ...head.props };
    actions.push(head.etag === undefined ? ["create", headEntity] : ["update", headEntity, "Replace", { etag: head.etag }]);
    try {
      const res = await t.submitTransaction(actions);
      const headEtag = res.subResponses[res.subResponses.length - 1]?.etag;
      if (!headEtag) throw new Error(`[keyrotor] [${this.what}] the transaction response carries no ETag for the head row`);
      return { ok: true, headEtag };
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 412) {
        // The service names the failed operation as "<index>:<message>".
        const m = /^(\d+):/.exec((err as Error).message);
        return m ? { ok: false, failedIndex: Number(m[1]) } : { ok: false };
      }
      return translateTableError(err, `[${this.what}] commit to ${pk}`);
    }
  }

  async upsert(pk: string, rk: string, props: RowProps): Promise<void> {
    const t = await this.table();
    try {
      await t.upsertEntity({ partitionKey: pk, rowKey: rk, ...props }, "Replace");
    } catch (err) {
      translateTableError(err, `[${this.what}] upsert ${pk}/${rk}`);
    }
  }

  async *list(range: ListRange): AsyncIterable<StoredRow> {
    const t = await this.table();
    const clauses: string[] = [];
    if (range.partitionKey !== undefined) clauses.push(odata`PartitionKey eq ${range.partitionKey}`);
    if (range.partitionKeyFrom !== undefined) clauses.push(odata`PartitionKey ge ${range.partitionKeyFrom}`);
    if (range.partitionKeyBelow !== undefined) clauses.push(odata`PartitionKey lt ${range.partitionKeyBelow}`);
    if (range.rowKeyFrom !== undefined) clauses.push(odata`RowKey ge ${range.rowKeyFrom}`);
    if (range.rowKeyBelow !== undefined) clauses.push(odata`RowKey lt ${range.rowKeyBelow}`);
    // Raw pages (no per-entity SDK deserialization): ledger rows hold only strings and 32-bit
    // integers; a value of any other EDM type arrives as {type, value} and reads as malformed.
    const pages = queryPages(t, { filter: clauses.join(" and "), select: range.select });
    // Fetch the next page while the caller works on this one (verify hashes as pages arrive).
    const nextPage = async () => {
      try {
        return await pages.next();
      } catch (err) {
        return translateTableError(err, `[${this.what}] list ${this.client.tableName}`);
      }
    };
    let pending = nextPage();
    try {
      for (;;) {
        const page = await pending;
        if (page.done) return;
        pending = nextPage();
        yield* page.value;
      }
    } finally {
      // A caller that stops early leaves one prefetch in flight; its failure is of no interest.
      pending.catch(() => undefined);
    }
  }
}
