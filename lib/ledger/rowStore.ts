// The narrow storage surface the ledger needs: point reads, one atomic multi-row commit per
// partition (create rows + create-or-replace the head row under its ETag), an upsert for the
// chain registry, and ordered paged listing. Deliberately no delete and no update of created rows.
import type { RowProps } from "./entry";

export interface StoredRow {
  partitionKey: string;
  rowKey: string;
  props: Record<string, unknown>;
}

export interface HeadWrite {
  rowKey: string;
  props: RowProps;
  /** The head row's ETag as read; undefined = the head row must not exist yet. */
  etag: string | undefined;
}

/** On conflict, `failedIndex` is the operation that failed (creates first, the head write last),
 * when the store can tell. */
export type CommitResult = { ok: true; headEtag: string } | { ok: false; failedIndex?: number };

export interface ListRange {
  partitionKey?: string;
  /** Inclusive lower bound of PartitionKey (when partitionKey is not given). */
  partitionKeyFrom?: string;
  /** Exclusive upper bound of PartitionKey. */
  partitionKeyBelow?: string;
  /** Inclusive lower bound of RowKey. */
  rowKeyFrom?: string;
  /** Exclusive upper bound of RowKey. */
  rowKeyBelow?: string;
  /** Only these properties are needed (a store may return more). */
  select?: readonly string[];
}

export interface RowStore {
  /** undefined when absent; etag is the row's current ETag. */
  get(partitionKey: string, rowKey: string): Promise<{ props: Record<string, unknown>; etag: string } | undefined>;
  /** All or nothing. `{ok:false}` when any created row exists or the head's ETag changed. */
  commit(partitionKey: string, creates: { rowKey: string; props: RowProps }[], head: HeadWrite): Promise<CommitResult>;
  /** Insert-or-replace: only for index rows that carry no evidence (the chain registry). */
  upsert(partitionKey: string, rowKey: string, props: RowProps): Promise<void>;
  /** Rows ordered by (PartitionKey, RowKey), fetched page by page. */
  list(range: ListRange): AsyncIterable<StoredRow>;
}

/** In-memory RowStore: same semantics as the Table adapter, for tests and the memory ledger. */
export class MemoryRowStore implements RowStore {
  private readonly partitions = new Map<string, Map<string, { props: Record<string, unknown>; etag: string }>>();
  private etagCounter = 0;

  private nextEtag(): string {
    this.etagCounter += 1;
    return `W/"mem-${this.etagCounter}"`;
  }

  async get(pk: string, rk: string): Promise<{ props: Record<string, unknown>; etag: string } | undefined> {
    const row = this.partitions.get(pk)?.get(rk);
    return row ? { props: { ...row.props }, etag: row.etag } : undefined;
  }

  async commit(pk: string, creates: { rowKey: string; props: RowProps }[], head: HeadWrite): Promise<CommitResult> {
    const part = this.partitions.get(pk) ?? new Map<string, { props: Record<string, unknown>; etag: string }>();
    const existing = creates.findIndex((c) => part.has(c.rowKey));
    if (existing >= 0) return { ok: false, failedIndex: existing };
    const current = part.get(head.rowKey);
    if (head.etag === undefined ? current !== undefined : current?.etag !== head.etag) return { ok: false, failedIndex: creates.length };
    for (const c of creates) part.set(c.rowKey, { props: { ...c.props }, etag: this.nextEtag() });
    const headEtag = this.nextEtag();
    part.set(head.rowKey, { props: { ...head.props }, etag: headEtag });
    this.partitions.set(pk, part);
    return { ok: true, headEtag };
  }

  async upsert(pk: string, rk: string, props: RowProps): Promise<void> {
    const part = this.partitions.get(pk) ?? new Map<string, { props: Record<string, unknown>; etag: string }>();
    part.set(rk, { props: { ...props }, etag: this.nextEtag() });
    this.partitions.set(pk, part);
  }

  /** What an attacker with write access to the storage can do (tamper tests only; the ledger never
   * calls it): put a row as given (`undefined` deletes it), bypassing every ETag and create rule. */
  tamper(pk: string, rk: string, props: Record<string, unknown> | undefined): void {
    const part = this.partitions.get(pk) ?? new Map<string, { props: Record<string, unknown>; etag: string }>();
    if (props === undefined) part.delete(rk);
    else part.set(rk, { props: { ...props }, etag: this.nextEtag() });
    this.partitions.set(pk, part);
  }

  async *list(range: ListRange): AsyncIterable<StoredRow> {
    const pks = range.partitionKey !== undefined
      ? [range.partitionKey]
      : [...this.partitions.keys()].sort().filter((pk) => (range.partitionKeyFrom === undefined || pk >= range.partitionKeyFrom) && (range.partitionKeyBelow === undefined || pk < range.partitionKeyBelow));
    for (const pk of pks) {
      const part = this.partitions.get(pk);
      if (!part) continue;
      for (const rk of [...part.keys()].sort()) {
        if (range.rowKeyFrom !== undefined && rk < range.rowKeyFrom) continue;
        if (range.rowKeyBelow !== undefined && rk >= range.rowKeyBelow) continue;
        const row = part.get(rk);
        if (row) yield { partitionKey: pk, rowKey: rk, props: { ...row.props } };
      }
    }
  }
}
