// Notification delivery health in Table Storage (KEYROTOR_TABLE_LOCKS, beside the fence rows):
//
//   PartitionKey = "health"   RowKey = "notifications"   failures, lastFailureAt, lastSuccessAt
//
// One row shared by every instance of the app (lib/events/healthStore.ts says why). The failure
// count is a read-modify-write under the row's ETag, retried when another instance wrote first.
import type { TableClient } from "@azure/data-tables";
import type { NotificationHealthRecord, NotificationHealthStore } from "../events/healthStore";
import { ensureTable, getRowOrUndefined, statusOf, translateTableError } from "./tables";

const PARTITION = "health";
const ROW = "notifications";
const MAX_TRIES = 8;

interface HealthEntity {
  partitionKey: string;
  rowKey: string;
  failures?: number;
  lastFailureAt?: string;
  lastSuccessAt?: string;
}

const later = (a: string | undefined, b: string): string => (a !== undefined && a > b ? a : b);

export class TableNotificationHealthStore implements NotificationHealthStore {
  constructor(private readonly table: TableClient) {}

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "notification health: create table");
    }
  }

  private async readRow(table: TableClient): Promise<(HealthEntity & { etag: string }) | undefined> {
    return getRowOrUndefined<HealthEntity>(table, PARTITION, ROW, "notification health: read");
  }

  async read(): Promise<NotificationHealthRecord> {
    const e = await this.readRow(await this.ready());
    return {
      failures: typeof e?.failures === "number" ? e.failures : 0,
      ...(typeof e?.lastFailureAt === "string" ? { lastFailureAt: e.lastFailureAt } : {}),
      ...(typeof e?.lastSuccessAt === "string" ? { lastSuccessAt: e.lastSuccessAt } : {}),
    };
  }

  async recordFailure(at: string): Promise<void> {
    await this.update("record a failure", (e) => ({ failures: (e?.failures ?? 0) + 1, lastFailureAt: later(e?.lastFailureAt, at) }));
  }

  async recordSuccess(at: string): Promise<void> {
    await this.update("record a success", (e) => ({ lastSuccessAt: later(e?.lastSuccessAt, at) }));
  }

  private async update(what: string, change: (e: HealthEntity | undefined) => Partial<HealthEntity>): Promise<void> {
    const table = await this.ready();
    for (let tries = 1; ; tries++) {
      const e = await this.readRow(table);
      const entity: HealthEntity = { partitionKey: PARTITION, rowKey: ROW, ...change(e) };
      try {
        if (e === undefined) await table.createEntity(entity);
        else await table.updateEntity(entity, "Merge", { etag: e.etag });
        return;
      } catch (err) {
        const status = statusOf(err);
        if ((status === 409 || status === 412) && tries < MAX_TRIES) continue;
        return translateTableError(err, `notification health: ${what}`);
      }
    }
  }
}
