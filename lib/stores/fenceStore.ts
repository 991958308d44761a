// Fence rows in Table Storage (KEYROTOR_TABLE_LOCKS, default "locks"): the latest lock grant of
// each key, written by claimFence and read by every mutating activity (lib/orchestration/fence.ts).
//
//   PartitionKey = "fence"   RowKey = keyId (escaped)   owner, token
//
// The tokens come from the keyLock entities; each acquire reads the row's token first and is granted
// above it, so a new task hub (whose entities count from 1 again) never reuses a recorded token.
import type { TableClient } from "@azure/data-tables";
import { InvariantViolationError } from "../domain/errors";
import type { FenceRecord, FenceStore } from "../orchestration/fence";
import { ensureTable, getRowOrUndefined, escapeKey, translateTableError } from "./tables";

const PARTITION = "fence";

interface FenceEntity {
  partitionKey: string;
  rowKey: string;
  owner: string;
  token: number;
}

export class TableFenceStore implements FenceStore {
  constructor(private readonly table: TableClient) {}

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "locks: create table");
    }
  }

  async read(keyId: string): Promise<{ record: FenceRecord; etag: string } | undefined> {
    const table = await this.ready();
    const e = await getRowOrUndefined<FenceEntity>(table, PARTITION, escapeKey(keyId), `locks: read the fence of ${keyId}`);
    if (!e) return undefined;
    if (typeof e.owner !== "string" || !Number.isSafeInteger(e.token) || e.token < 1) {
      throw new InvariantViolationError("FenceRowMalformed", `[keyrotor] [lock] the fence row of ${keyId} is malformed`);
    }
    return { record: { owner: e.owner, token: e.token }, etag: e.etag };
  }

  async write(keyId: string, record: FenceRecord, etag: string | undefined): Promise<void> {
    const table = await this.ready();
    const entity: FenceEntity = { partitionKey: PARTITION, rowKey: escapeKey(keyId), owner: record.owner, token: record.token };
    try {
      if (etag === undefined) await table.createEntity(entity);
      else await table.updateEntity(entity, "Replace", { etag });
    } catch (err) {
      return translateTableError(err, `locks: record grant ${record.token} of ${keyId}`);
    }
  }
}
