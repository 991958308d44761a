// Where a paged evidence export keeps its place and the parts it has built, between the HTTP calls
// that continue it (Azure cuts a response at 230 s; a pack over a multi-year ledger takes longer).
// Flex Consumption may answer each call on another instance, so all of it lives in storage: one
// partition per export in the locks table, a `state` row (the place, small) and the parts as JSON
// in rows of at most CHUNK_CHARS characters (a Table string property holds 32K).
//
// What it is trusted with: only work this API did (the keys' sections, the verify pages' counts and
// breaks). The pack the last call assembles is signed by the seal key like a one-shot pack, so who
// can write these rows can forge a pack as much as one who can write the ledger tables, no more.
import type { TableClient } from "@azure/data-tables";
import { RotationConflictError } from "../domain/errors";
import type { LedgerBreak } from "../ports";
import { ensureTable, getRowOrUndefined, statusOf, translateTableError } from "../stores/tables";
import type { EvidencePeriod, KeySection } from "./evidence";

/** An export's place. */
export interface EvidenceExport {
  exportId: string;
  period: EvidencePeriod;
  /** The first call's time: every page judges compliance as of the same moment. */
  generatedAt: string;
  phase: "keys" | "verify";
  /** keyId of the last key whose section is stored (keys go in keyId order). */
  keyCursor?: string;
  keysDone: number;
  verify: { cursor?: string; pages: number; chains: number; entries: number; breaks: LedgerBreak[] };
  /** Chunk counts of the stored parts, in order. */
  parts: number[];
}

/** One stored part: sections of some keys, or the chains no inventory key owns. */
export interface EvidencePart {
  sections?: KeySection[];
  keysNotInInventory?: string[];
}

export interface EvidenceExportStore {
  /** The export and its version tag, or undefined when there is none (never started, finished, expired). */
  read(exportId: string): Promise<{ state: EvidenceExport; etag: string; updatedAt: Date } | undefined>;
  /** Stores `parts` as the next part numbers and then the state counting them (state.parts grows);
   * returns the new etag. `etag` undefined = a new export; a stale etag (another call continued it)
   * → RotationConflictError. */
  save(state: EvidenceExport, etag: string | undefined, parts: EvidencePart[]): Promise<string>;
  parts(state: EvidenceExport): AsyncIterable<EvidencePart>;
  remove(exportId: string): Promise<void>;
}

export const CHUNK_CHARS = 30_000;

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK_CHARS) out.push(text.slice(i, i + CHUNK_CHARS));
  return out.length ? out : [""];
}

const conflict = (exportId: string) =>
  new RotationConflictError("EvidenceExportBusy", `[keyrotor] [evidence] export ${exportId} was continued by another call at the same time; continue from that call's continuation`);

export class MemoryEvidenceExportStore implements EvidenceExportStore {
  private readonly rows = new Map<string, { state: string; version: number; updatedAt: Date; parts: string[][] }>();
  constructor(private readonly now: () => Date = () => new Date()) {}

  async read(exportId: string) {
    const row = this.rows.get(exportId);
    return row ? { state: JSON.parse(row.state) as EvidenceExport, etag: String(row.version), updatedAt: row.updatedAt } : undefined;
  }
  async save(state: EvidenceExport, etag: string | undefined, newParts: EvidencePart[]): Promise<string> {
    const row = this.rows.get(state.exportId);
    if ((row === undefined) !== (etag === undefined) || (row && String(row.version) !== etag)) throw conflict(state.exportId);
    const parts = [...(row?.parts ?? [])];
    const next = { ...state, parts: [...state.parts] };
    for (const part of newParts) {
      const c = chunks(JSON.stringify(part));
      parts[next.parts.length] = c;
      next.parts.push(c.length);
    }
    const version = (row?.version ?? 0) + 1;
    this.rows.set(state.exportId, { state: JSON.stringify(next), version, updatedAt: this.now(), parts });
    state.parts = next.parts;
    return String(version);
  }
  async *parts(state: EvidenceExport): AsyncIterable<EvidencePart> {
    const row = this.rows.get(state.exportId);
    for (let i = 0; i < state.parts.length; i++) yield JSON.parse((row?.parts[i] ?? []).join("")) as EvidencePart;
  }
  async remove(exportId: string): Promise<void> {
    this.rows.delete(exportId);
  }
}

const partition = (exportId: string) => `evidence-${exportId}`;
const STATE_ROW = "state";
const partRow = (i: number, c: number) => `part-${String(i).padStart(6, "0")}-${String(c).padStart(4, "0")}`;

export class TableEvidenceExportStore implements EvidenceExportStore {
  constructor(private readonly table: TableClient) {}

  async read(exportId: string) {
    const table = await this.ready();
    const row = await getRowOrUndefined<{ state: string }>(table, partition(exportId), STATE_ROW, "evidence export: read");
    if (!row) return undefined;
    return { state: JSON.parse(row.state) as EvidenceExport, etag: row.etag, updatedAt: new Date(row.timestamp ?? 0) };
  }

  async save(state: EvidenceExport, etag: string | undefined, newParts: EvidencePart[]): Promise<string> {
    const table = await this.ready();
    const pk = partition(state.exportId);
    const next = { ...state, parts: [...state.parts] };
    let written: { etag?: string };
    try {
      for (const part of newParts) {
        // Written before the state that counts it: a crash between leaves rows the retried call
        // overwrites (same part number), never a state that counts a part that is not there.
        const c = chunks(JSON.stringify(part));
        for (const [i, data] of c.entries()) await table.upsertEntity({ partitionKey: pk, rowKey: partRow(next.parts.length, i), data }, "Replace");
        next.parts.push(c.length);
      }
      const entity = { partitionKey: pk, rowKey: STATE_ROW, state: JSON.stringify(next) };
      written = etag === undefined ? await table.createEntity(entity) : await table.updateEntity(entity, "Replace", { etag });
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 412) throw conflict(state.exportId);
      return translateTableError(err, "evidence export: write");
    }
    state.parts = next.parts;
    if (written.etag === undefined) throw new Error("[keyrotor] [evidence] Table Storage answered a write without an ETag");
    return written.etag;
  }

  async *parts(state: EvidenceExport): AsyncIterable<EvidencePart> {
    const table = await this.ready();
    for (let i = 0; i < state.parts.length; i++) {
      let text = "";
      for (let c = 0; c < (state.parts[i] ?? 0); c++) {
        try {
          text += (await table.getEntity<{ data: string }>(partition(state.exportId), partRow(i, c))).data;
        } catch (err) {
          translateTableError(err, `evidence export: read part ${i}`);
        }
      }
      yield JSON.parse(text) as EvidencePart;
    }
  }

  async remove(exportId: string): Promise<void> {
    const table = await this.ready();
    const pk = partition(exportId);
    try {
      for await (const row of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${pk}'`, select: ["RowKey"] } })) await table.deleteEntity(pk, String(row.rowKey));
    } catch (err) {
      if (statusOf(err) !== 404) translateTableError(err, "evidence export: remove");
    }
  }

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "evidence export: create table");
    }
  }
}
