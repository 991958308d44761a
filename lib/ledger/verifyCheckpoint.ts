// Where the hourly ledger audit keeps its place between invocations, and the outcome of the last
// complete verification (which /api/health shows). One row, partition `ledgeraudit` of the locks
// table: Flex Consumption runs the timer and the HTTP functions on different instances, so nothing
// of it may live in memory.
//
// What the checkpoint is trusted with: only the position of the sweep in progress and what the
// pages before found. It never lets a sweep skip a chain: every sweep starts at the first chain and
// re-hashes every entry against the seals (lib/ledger/verify.ts VerifyPage), so a row tampered behind
// the cursor is caught by the next sweep (and by the sealed hashes, by any verify). Someone who can
// write this row can delay or silence the audit's alarm, as one who can write the ledger tables can
// append unsealed entries; neither can make a tampered sealed entry verify.
import type { TableClient } from "@azure/data-tables";
import type { LedgerBreak } from "../ports";
import { ensureTable, getRowOrUndefined, translateTableError } from "../stores/tables";

/** Breaks carried from page to page (a Table string property holds 32K characters). */
export const MAX_CARRIED_BREAKS = 50;

/** A sweep in progress: the pages done so far. */
export interface AuditSweep {
  startedAt: string;
  /** PartitionKey of the first chain not yet verified. */
  cursor: string;
  pages: number;
  chains: number;
  entries: number;
  breaks: LedgerBreak[];
}

/** The outcome of the last complete sweep. */
export interface LastVerification {
  at: string;
  startedAt: string;
  ok: boolean;
  chains: number;
  entries: number;
  seals: number;
  pages: number;
  firstBreak?: LedgerBreak;
  sealSeq?: number;
}

export interface AuditRecord {
  sweep?: AuditSweep;
  last?: LastVerification;
}

export interface AuditCheckpointStore {
  read(): Promise<AuditRecord>;
  write(record: AuditRecord): Promise<void>;
}

export class MemoryAuditCheckpointStore implements AuditCheckpointStore {
  private record: AuditRecord = {};
  async read(): Promise<AuditRecord> {
    return structuredClone(this.record);
  }
  async write(record: AuditRecord): Promise<void> {
    this.record = structuredClone(record);
  }
}

const PARTITION = "ledgeraudit";
const ROW = "state";

export class TableAuditCheckpointStore implements AuditCheckpointStore {
  constructor(private readonly table: TableClient) {}

  async read(): Promise<AuditRecord> {
    const table = await this.ready();
    const row = await getRowOrUndefined<{ sweep?: string; last?: string }>(table, PARTITION, ROW, "ledger audit checkpoint: read");
    if (!row) return {};
    return {
      ...(typeof row.sweep === "string" && row.sweep ? { sweep: JSON.parse(row.sweep) as AuditSweep } : {}),
      ...(typeof row.last === "string" && row.last ? { last: JSON.parse(row.last) as LastVerification } : {}),
    };
  }

  async write(record: AuditRecord): Promise<void> {
    const table = await this.ready();
    try {
      // Replace: a finished sweep must leave no cursor behind.
      await table.upsertEntity({ partitionKey: PARTITION, rowKey: ROW, sweep: record.sweep ? JSON.stringify(record.sweep) : "", last: record.last ? JSON.stringify(record.last) : "" }, "Replace");
    } catch (err) {
      translateTableError(err, "ledger audit checkpoint: write");
    }
  }

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "ledger audit checkpoint: create table");
    }
  }
}
