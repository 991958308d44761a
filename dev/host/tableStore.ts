// The dev host's history store on Azure Table Storage (Azurite locally). One table; partition =
// instance or entity id; rows: "instance" / "entity" (the state), "h~<executionId>~<index>" (one
// history event per row, so rows stay small and long histories are read page by page) and
// "m~<key>" (durable inbox). Large values are split over several string properties.
import { odata, type TableClient, type TableEntity, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import type { HistoryEvent } from "./history";
import type { EntityRow, HistoryStore, InboxMessage, InstanceRow, RuntimeStatus } from "./store";

const CHUNK = 30_000;
const MAX_CHUNKS = 14;
const BATCH = 100;
const BATCH_CHARS = 1_500_000;

type Row = TableEntity<Record<string, unknown>>;

function pk(id: string): string {
  return encodeURIComponent(id);
}

function statusOf(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "statusCode" in err ? (err as { statusCode?: number }).statusCode : undefined;
}

function pack(value: unknown): Record<string, string | number> {
  const text = JSON.stringify(value);
  const n = Math.ceil(text.length / CHUNK) || 1;
  if (n > MAX_CHUNKS) throw new Error(`[keyrotor] [devhost] [tablestore] value of ${text.length} characters exceeds the ${MAX_CHUNKS * CHUNK}-character row limit`);
  const out: Record<string, string | number> = { n };
  for (let i = 0; i < n; i++) out[`d${i}`] = text.slice(i * CHUNK, (i + 1) * CHUNK);
  return out;
}

function unpack<T>(row: Record<string, unknown>): T {
  const n = Number(row.n ?? 0);
  let text = "";
  for (let i = 0; i < n; i++) {
    const part = row[`d${i}`];
    text += typeof part === "string" ? part : "";
  }
  return JSON.parse(text) as T;
}

/** The instance row: the packed value plus the two columns a poller filters on. */
function instanceEntity(row: InstanceRow): Row {
  return { partitionKey: pk(row.instanceId), rowKey: "instance", runtimeStatus: row.runtimeStatus, historyLength: row.historyLength, ...pack(row) };
}

function historyKey(executionId: string, index: number): string {
  return `h~${encodeURIComponent(executionId)}~${index.toString().padStart(9, "0")}`;
}

export class TableHistoryStore implements HistoryStore {
  private created = false;

  constructor(private readonly table: TableClient) {}

  private async t(): Promise<TableClient> {
    if (!this.created) {
      try {
        await this.table.createTable();
      } catch (err) {
        if (statusOf(err) !== 409) throw new Error("[keyrotor] [devhost] [tablestore] cannot create the history table", { cause: err });
      }
      this.created = true;
    }
    return this.table;
  }

  private async get<T>(partition: string, rowKey: string): Promise<{ value: T; etag: string } | undefined> {
    const t = await this.t();
    try {
      const e = await t.getEntity<Record<string, unknown>>(partition, rowKey);
      return { value: unpack<T>(e), etag: e.etag };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async rows(filter: string, select?: string[]): Promise<Array<TableEntityResult<Record<string, unknown>>>> {
    const t = await this.t();
    const out: Array<TableEntityResult<Record<string, unknown>>> = [];
    for await (const page of t.listEntities<Record<string, unknown>>({ queryOptions: { filter, ...(select ? { select } : {}) } }).byPage({ maxPageSize: 1000 })) {
      out.push(...page);
    }
    return out;
  }

  private async submit(partition: string, actions: TransactionAction[]): Promise<void> {
    const t = await this.t();
    let batch: TransactionAction[] = [];
    let chars = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await t.submitTransaction(batch);
      batch = [];
      chars = 0;
    };
    for (const a of actions) {
      const size = JSON.stringify(a[1]).length;
      if (batch.length >= BATCH || chars + size > BATCH_CHARS) await flush();
      batch.push(a);
      chars += size;
    }
    await flush();
    void partition;
  }

  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    return (await this.get<InstanceRow>(pk(instanceId), "instance"))?.value;
  }

  async createInstance(row: InstanceRow, replaceable: readonly RuntimeStatus[]): Promise<{ created: true; replaced?: InstanceRow } | { created: false; existing: InstanceRow }> {
    const t = await this.t();
    const entity = instanceEntity(row);
    for (;;) {
      try {
        await t.createEntity(entity);
        return { created: true };
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
      const existing = await this.get<InstanceRow>(pk(row.instanceId), "instance");
      if (!existing) continue;
      if (!replaceable.includes(existing.value.runtimeStatus)) return { created: false, existing: existing.value };
      try {
        await t.updateEntity(entity, "Replace", { etag: existing.etag });
        return { created: true, replaced: existing.value };
      } catch (err) {
        // Someone else replaced it first: look again.
        if (statusOf(err) !== 412 && statusOf(err) !== 404) throw err;
      }
    }
  }

  async putInstance(row: InstanceRow): Promise<void> {
    await (await this.t()).upsertEntity(instanceEntity(row), "Replace");
  }

  async listInstances(): Promise<InstanceRow[]> {
    return (await this.rows(odata`RowKey eq ${"instance"}`)).map((r) => unpack<InstanceRow>(r));
  }

  async deleteInstance(instanceId: string): Promise<boolean> {
    const rows = await this.rows(odata`PartitionKey eq ${pk(instanceId)}`, ["PartitionKey", "RowKey"]);
    await this.submit(
      pk(instanceId),
      rows.map((r) => ["delete", { partitionKey: r.partitionKey, rowKey: r.rowKey }] as TransactionAction),
    );
    return rows.some((r) => r.rowKey === "instance");
  }

  async writeHistory(instanceId: string, executionId: string, fromIndex: number, events: HistoryEvent[]): Promise<void> {
    const partitionKey = pk(instanceId);
    await this.submit(
      partitionKey,
      events.map((e, i) => ["upsert", { partitionKey, rowKey: historyKey(executionId, fromIndex + i), ...pack(e) }, "Replace"] as TransactionAction),
    );
  }

  async readHistory(instanceId: string, executionId: string, length: number): Promise<HistoryEvent[]> {
    if (length === 0) return [];
    const from = historyKey(executionId, 0);
    const to = historyKey(executionId, length);
    const rows = await this.rows(odata`PartitionKey eq ${pk(instanceId)} and RowKey ge ${from} and RowKey lt ${to}`);
    return rows.sort((a, b) => ((a.rowKey ?? "") < (b.rowKey ?? "") ? -1 : 1)).map((r) => unpack<HistoryEvent>(r));
  }

  async deleteHistory(instanceId: string, executionId: string): Promise<void> {
    const prefix = `h~${encodeURIComponent(executionId)}~`;
    const rows = await this.rows(odata`PartitionKey eq ${pk(instanceId)} and RowKey ge ${prefix} and RowKey lt ${`${prefix}~`}`, ["PartitionKey", "RowKey"]);
    await this.submit(
      pk(instanceId),
      rows.map((r) => ["delete", { partitionKey: r.partitionKey, rowKey: r.rowKey }] as TransactionAction),
    );
  }

  async enqueue(targetId: string, message: InboxMessage): Promise<void> {
    await (await this.t()).upsertEntity({ partitionKey: pk(targetId), rowKey: `m~${message.key}`, ...pack(message) }, "Replace");
  }

  async readInbox(targetId: string): Promise<InboxMessage[]> {
    const rows = await this.rows(odata`PartitionKey eq ${pk(targetId)} and RowKey ge ${"m~"} and RowKey lt ${"n"}`);
    return rows.sort((a, b) => ((a.rowKey ?? "") < (b.rowKey ?? "") ? -1 : 1)).map((r) => unpack<InboxMessage>(r));
  }

  async dequeue(targetId: string, keys: string[]): Promise<void> {
    const t = await this.t();
    for (const k of keys) {
      try {
        await t.deleteEntity(pk(targetId), `m~${k}`);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
  }

  async inboxTargets(): Promise<string[]> {
    const rows = await this.rows(odata`RowKey ge ${"m~"} and RowKey lt ${"n"}`, ["PartitionKey", "RowKey"]);
    return [...new Set(rows.map((r) => decodeURIComponent(r.partitionKey ?? "")))];
  }

  async workTargets(): Promise<string[]> {
    const pending = await this.rows(odata`RowKey eq ${"instance"} and runtimeStatus eq ${"Pending"} and historyLength eq ${0}`, ["PartitionKey", "RowKey"]);
    return [...new Set([...pending.map((r) => decodeURIComponent(r.partitionKey ?? "")), ...(await this.inboxTargets())])];
  }

  /** The lease row ("lease": owner, until in ms) changes only under its ETag, so of two claimers
   * one wins; an expired lease is taken over the same way. */
  async claimLease(targetId: string, owner: string, leaseMs: number): Promise<boolean> {
    const t = await this.t();
    const partitionKey = pk(targetId);
    const lease = { partitionKey, rowKey: "lease", owner, until: Date.now() + leaseMs };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await t.createEntity(lease);
        return true;
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
      let held: TableEntityResult<Record<string, unknown>>;
      try {
        held = await t.getEntity<Record<string, unknown>>(partitionKey, "lease");
      } catch (err) {
        if (statusOf(err) === 404) continue;
        throw err;
      }
      if (held.owner !== owner && Number(held.until) > Date.now()) return false;
      try {
        await t.updateEntity({ ...lease, until: Date.now() + leaseMs }, "Replace", { etag: held.etag });
        return true;
      } catch (err) {
        if (statusOf(err) === 412) return false;
        if (statusOf(err) !== 404) throw err;
      }
    }
    return false;
  }

  async releaseLease(targetId: string, owner: string): Promise<void> {
    const t = await this.t();
    try {
      const held = await t.getEntity<Record<string, unknown>>(pk(targetId), "lease");
      if (held.owner === owner) await t.deleteEntity(pk(targetId), "lease", { etag: held.etag });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 412) throw err;
    }
  }

  async unleasedInstances(): Promise<string[]> {
    const unfinished = await this.rows(
      odata`RowKey eq ${"instance"} and runtimeStatus ne ${"Completed"} and runtimeStatus ne ${"Failed"} and runtimeStatus ne ${"Terminated"}`,
      ["PartitionKey", "RowKey"],
    );
    if (unfinished.length === 0) return [];
    const now = Date.now();
    const leased = new Set((await this.rows(odata`RowKey eq ${"lease"}`, ["PartitionKey", "until"])).filter((r) => Number(r.until) > now).map((r) => r.partitionKey));
    return unfinished.filter((r) => !leased.has(r.partitionKey)).map((r) => decodeURIComponent(r.partitionKey ?? ""));
  }

  async getEntity(entityId: string): Promise<EntityRow | undefined> {
    return (await this.get<EntityRow>(pk(entityId), "entity"))?.value;
  }

  async putEntity(row: EntityRow): Promise<void> {
    await (await this.t()).upsertEntity({ partitionKey: pk(row.entityId), rowKey: "entity", ...pack(row) }, "Replace");
  }
}
