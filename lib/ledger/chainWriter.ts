// Appending to a hash chain stored as rows of one partition, under optimistic concurrency.
//
// Layout of a chain's partition: RowKey "000000000001", "000000000002", ... for links, plus a
// "head" row {seq, hash} that every append replaces under its ETag in the SAME transaction that
// creates the next link. So a writer finds the head with one point read (or none, from its cache),
// and two writers racing for seq N+1 cannot both win: the loser gets 409/412, re-reads, retries.
import { RotationConflictError } from "../domain/errors";
import { GENESIS_HASH } from "./canonical";
import { isSeqRowKey, seqRowKey, type RowProps } from "./entry";
import type { RowStore } from "./rowStore";
import { LedgerTamperedError } from "./tampered";

export const HEAD_ROW_KEY = "head";

export interface Head {
  seq: number;
  hash: string;
  /** undefined = no head row yet (empty chain, or a head row that has to be rebuilt). */
  etag: string | undefined;
}

export interface Link<T> {
  /** Rows to create atomically with the head update; the first is the link at `seq`. */
  creates: { rowKey: string; props: RowProps }[];
  headProps: RowProps;
  hash: string;
  result: T;
}

export interface AppendOptions<T> {
  /** Builds the link that follows `prev` (seq = prev.seq + 1). */
  build(prev: Head): Promise<Link<T>> | Link<T>;
  /** After a lost race: is our write already there (idempotency)? Then return it. */
  alreadyWritten?(): Promise<T | undefined>;
  /** Called once before the first link of a new chain is written. */
  onNewChain?(): Promise<void>;
  maxAttempts?: number;
}

const MAX_BACKOFF_MS = 1_000;
const EMPTY: Head = { seq: 0, hash: GENESIS_HASH, etag: undefined };

export class ChainWriter {
  /** Last known head per partition: a single writer then appends with one round trip. */
  private readonly heads = new Map<string, Head>();
  /** Partitions whose head row this process has checked against the link it names. */
  private readonly checked = new Set<string>();

  /** `chainIdOf` names the chain a partition holds, in errors (the keyId, or the seal chain). */
  constructor(private readonly store: RowStore, private readonly what: string, private readonly chainIdOf: (pk: string) => string = (pk) => pk) {}

  async readHead(pk: string): Promise<Head> {
    const row = await this.store.get(pk, HEAD_ROW_KEY);
    if (!row) return EMPTY;
    const seq = row.props.seq, hash = row.props.hash;
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0 || typeof hash !== "string") {
      throw new LedgerTamperedError({ keyId: this.chainIdOf(pk), seq: 0, problem: "headMismatch", detail: `[${this.what}] the head row is malformed` });
    }
    return { seq, hash, etag: row.etag };
  }

  /** When the head row is missing but links exist (it was deleted by hand): find the last link so
   * appends can go on. Rare; pages through the partition keeping only the last row. */
  private async lastLink(pk: string): Promise<Head> {
    let last: Head = EMPTY;
    for await (const row of this.store.list({ partitionKey: pk, rowKeyBelow: HEAD_ROW_KEY })) {
      if (isSeqRowKey(row.rowKey) && typeof row.props.hash === "string") last = { seq: Number(row.rowKey), hash: row.props.hash, etag: undefined };
    }
    return last;
  }

  /** Once per partition and process: the head row names a link that exists with that hash. A head
   * row edited to another hash would otherwise have the next append link to it, forking the chain.
   * (Heads written since by other writers came from the same transaction as their link.) */
  private async checkHead(pk: string, head: Head): Promise<void> {
    const link = await this.store.get(pk, seqRowKey(head.seq));
    if (link?.props.hash !== head.hash) {
      throw new LedgerTamperedError({
        keyId: this.chainIdOf(pk), seq: head.seq, problem: "headMismatch",
        detail: `[${this.what}] the head row names ${head.seq} with a hash ${link ? "that entry does not have" : "but that entry does not exist"}; appends refuse until it is repaired (run ledger verify)`,
      });
    }
    this.checked.add(pk);
  }

  async append<T>(pk: string, opts: AppendOptions<T>): Promise<T> {
    const maxAttempts = opts.maxAttempts ?? 1_000;
    let head = this.heads.get(pk);
    let lostWithoutHead = 0;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (!head) {
        head = await this.readHead(pk);
        if (head.etag === undefined && lostWithoutHead >= 2) head = await this.lastLink(pk);
        if (head.seq === 0 && opts.onNewChain) await opts.onNewChain();
        if (head.seq > 0 && !this.checked.has(pk)) await this.checkHead(pk, head);
      }
      const link = await opts.build(head);
      const next = head.seq + 1;
      const committed = await this.store.commit(pk, link.creates, { rowKey: HEAD_ROW_KEY, props: { ...link.headProps, seq: next, hash: link.hash }, etag: head.etag });
      if (committed.ok) {
        this.heads.set(pk, { seq: next, hash: link.hash, etag: committed.headEtag });
        return link.result;
      }
      if (head.etag === undefined) lostWithoutHead += 1;
      this.heads.delete(pk);
      const lost = head;
      head = undefined;
      // Lost on the link row (index 0) or the head (last): another writer took this seq. Lost on
      // another created row (e.g. the entryId index), or unknown: maybe our write is already there.
      const i = committed.failedIndex;
      if (i === undefined || (i > 0 && i < link.creates.length)) {
        const existing = await opts.alreadyWritten?.();
        if (existing !== undefined) return existing;
      }
      // Losing a race moves the head row (the winner replaced it). A head row that did not move while
      // a row we create already exists is one that does not name the last link (rewound by hand):
      // retrying would collide forever, and appending after it would fork the chain.
      if (lost.etag !== undefined && i !== link.creates.length) {
        const now = await this.readHead(pk);
        if (now.etag === lost.etag) {
          throw new LedgerTamperedError({
            keyId: this.chainIdOf(pk), seq: lost.seq, problem: "headMismatch",
            detail: `[${this.what}] the head row names ${lost.seq} but row ${lost.seq + 1} exists; appends refuse until the head row is repaired (run ledger verify)`,
          });
        }
        if (now.etag !== undefined) head = now; // the next attempt builds on it without reading again
      }
      // Exponential backoff with full jitter: the more often a writer loses, the more the racers
      // spread out, so a crowded chain spends its requests on commits rather than on collisions.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(MAX_BACKOFF_MS, 4 * 2 ** Math.min(attempt, 10))));
    }
    throw new RotationConflictError("LedgerContended", `[keyrotor] [${this.what}] gave up appending to ${pk} after ${maxAttempts} lost races`);
  }

  /** Forget cached heads (after another process may have written). */
  forget(pk?: string): void {
    if (pk === undefined) this.heads.clear();
    else this.heads.delete(pk);
  }
}

