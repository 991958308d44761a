// The rules one chain's rows must follow, applied to rows as they stream in (PartitionKey, RowKey)
// order: verify() reports every break and goes on; entries() throws at the first one. Sharing one
// checker is what makes "entries() never returns a row verify would not accept" hold by construction.
//
// A chain partition holds exactly: entry rows (RowKey = 12-digit seq ≥ 1), one `head` row, and one
// `id:<escaped entryId>` index row per entry. Rows sort digits < "head" < "id:…", so every entry has
// been seen when the head and index rows arrive.
import type { LedgerEntry, LedgerProblem } from "../ports";
import { GENESIS_HASH } from "./canonical";
import { HEAD_ROW_KEY } from "./chainWriter";
import { entryHash, entryIdOfRowKey, rowToEntry, seqOfRowKey } from "./entry";

export interface Claim {
  seq: number;
  hash: string;
  sealSeq: number;
}

/** An index row naming an entry past the last one read. */
export interface PastTheEnd {
  seq: number;
  entryId: string;
  detail: string;
}

export interface ChainCheckOptions {
  keyId: string;
  /** Hashes that seals recorded for entries of this chain, by seq. */
  claims?: ReadonlyMap<number, Claim> | undefined;
  /** The highest head any seal recorded for this chain. */
  top?: Claim | undefined;
  /** Check the index rows (verify does; entries() reads none: they are not entries). */
  indexRows?: boolean;
  report: (seq: number, problem: LedgerProblem, detail: string) => void;
}

// Per-seq state of the entry rows, for the index check.
const NONE = 0, OK = 1, REPORTED = 2;

/** Grows a typed array to hold index `i`. */
function room(a: Uint8Array, i: number): Uint8Array {
  if (i < a.length) return a;
  const bigger = new Uint8Array(Math.max(i + 1, a.length * 2));
  bigger.set(a);
  return bigger;
}

export class ChainCheck {
  /** Next seq expected. */
  private expected = 1;
  private prevHash = GENESIS_HASH;
  private resync = false;
  /** Hash of the last entry row as stored. */
  private lastHash: string | undefined;
  private head: { seq: unknown; hash: unknown } | undefined;
  // Index check: each entry's entryId and state, by seq. The entryIds (tens of bytes each) are the
  // only per-entry memory verify holds, for the one chain each range is reading; hashing them into
  // fingerprints instead would cost as much CPU as hashing the entries themselves.
  private readonly ids: (string | undefined)[] = [];
  private state: Uint8Array = new Uint8Array(64);
  private indexed: Uint8Array = new Uint8Array(64);
  /** Index rows that name entries past the end (see finish()). */
  private beyondEnd: PastTheEnd[] = [];

  constructor(private readonly o: ChainCheckOptions) {}

  /** Sequence number of the last entry row seen (0: none yet). */
  get last(): number {
    return this.expected - 1;
  }

  /** Hash of the last entry row read, as stored. */
  get lastEntryHash(): string | undefined {
    return this.lastHash;
  }

  /** Start after entry `seq` whose stored hash is `hash` (reading a chain from the middle). */
  startAfter(seq: number, hash: string): void {
    this.expected = seq + 1;
    this.prevHash = hash;
    this.lastHash = hash;
  }

  /** One row of the partition, in RowKey order. Returns the entry when the row is an entry that
   * passes every check, "entry" for an entry row that does not (reported), "other" otherwise. */
  row(rowKey: string, props: Record<string, unknown>): LedgerEntry | "entry" | "other" {
    const seq = seqOfRowKey(rowKey);
    if (seq !== undefined) return this.entryRow(seq, props);
    if (rowKey === HEAD_ROW_KEY) {
      this.head = { seq: props.seq, hash: props.hash };
      return "other";
    }
    const entryId = entryIdOfRowKey(rowKey);
    if (entryId !== undefined && this.o.indexRows) this.indexRow(entryId, props.seq);
    else if (entryId === undefined) this.o.report(this.last, "strayRow", `row "${rowKey}" is no entry, head or index row`);
    return "other";
  }

  private mark(seq: number, state: number, entryId?: unknown): void {
    if (!this.o.indexRows) return;
    this.state = room(this.state, seq);
    this.state[seq] = state;
    if (typeof entryId === "string") this.ids[seq] = entryId;
  }

  private entryRow(at: number, props: Record<string, unknown>): LedgerEntry | "entry" {
    const { keyId, report } = this.o;
    if (at > this.expected) {
      report(this.expected, "gap", `entries ${this.expected}..${at - 1} are missing`);
      for (let s = this.expected; s < at; s++) this.mark(s, REPORTED);
      this.resync = true;
    }
    this.expected = at + 1;
    const entry = rowToEntry(props);
    if (typeof entry === "string") {
      report(at, "hashMismatch", `row is malformed: ${entry}`);
      this.prevHash = typeof props.hash === "string" ? props.hash : "";
      this.lastHash = this.prevHash;
      this.resync = true;
      this.mark(at, REPORTED, props.entryId);
      return "entry";
    }
    const claim = this.o.claims?.get(at);
    let broken = true;
    if (entry.seq !== at || entry.keyId !== keyId) {
      report(at, "reordered", entry.seq !== at ? `row ${at} holds entry ${entry.seq}` : `row holds an entry of ${entry.keyId}`);
    } else if (entryHash(entry) !== entry.hash) {
      report(at, "hashMismatch", "the entry's fields do not match its hash");
    } else if (!this.resync && entry.prevHash !== this.prevHash) {
      report(at, "hashMismatch", "prevHash does not match the previous entry");
    } else if (claim && claim.hash !== entry.hash) {
      report(at, "hashMismatch", `seal ${claim.sealSeq} recorded another hash for this entry`);
    } else {
      broken = false;
    }
    // After a break, check the next link against this row as stored: one tampered row is reported
    // once, not as a cascade down the rest of the chain.
    this.prevHash = entry.hash;
    this.lastHash = entry.hash;
    this.resync = broken;
    this.mark(at, broken ? REPORTED : OK, entry.entryId);
    return broken ? "entry" : entry;
  }

  private indexRow(entryId: string, seq: unknown): void {
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
      this.o.report(this.last, "indexMismatch", `the index row of entry ${entryId} names no sequence number`);
      return;
    }
    const state = seq < this.state.length ? this.state[seq] : NONE;
    if (state === REPORTED) return; // the entry row itself is already reported
    if (state === NONE) {
      // Past the end: a cut tail leaves its index rows behind; reported unless the cut is.
      this.beyondEnd.push({ seq, entryId, detail: `the index row of entry ${entryId} names entry ${seq}, which does not exist` });
      return;
    }
    if (this.ids[seq] !== entryId) {
      this.o.report(seq, "indexMismatch", `the index row of entry ${entryId} names entry ${seq}, which holds another entryId (an append of ${entryId} would be taken as already written)`);
      return;
    }
    this.indexed = room(this.indexed, seq);
    this.indexed[seq] = 1;
  }

  /** After the last row of the partition: the tail against the seals and the head row, then the index.
   * Returns the index rows that name entries past the end when the tail itself looked intact: a cut
   * tail whose head row was rewound, or an append that committed while the scan was between the
   * head row and the index rows (pages are not a snapshot). The caller tells them apart by reading
   * those entries again, and reports the ones still missing. */
  finish(): PastTheEnd[] {
    const { report, top } = this.o;
    const last = this.last;
    let tailReported = true;
    if (last === 0) {
      if (top) report(1, "chainMissing", `seal ${top.sealSeq} recorded ${top.seq} entries; none remain`);
      else if (typeof this.head?.seq === "number" && this.head.seq > 0) report(1, "gap", `the head row says ${this.head.seq} entries; none remain`);
      else tailReported = false;
    } else if (top && top.seq > last) {
      report(last + 1, "truncatedAfterSeal", `seal ${top.sealSeq} recorded ${top.seq} entries; the chain ends at ${last}`);
    } else if (!this.head) {
      report(last, "headMismatch", `the head row is missing; the chain ends at ${last}`);
    } else if (typeof this.head.seq === "number" && this.head.seq > last) {
      report(last + 1, "gap", `the head row says ${this.head.seq} entries; the chain ends at ${last}`);
    } else if (this.head.seq !== last || this.head.hash !== this.lastHash) {
      report(last, "headMismatch", `the head row names entry ${String(this.head.seq)} with another hash or number than the last entry, ${last}`);
    } else {
      tailReported = false;
    }
    if (!this.o.indexRows) return [];
    for (let seq = 1; seq <= last && seq < this.state.length; seq++) {
      if (this.state[seq] === OK && this.indexed[seq] !== 1) report(seq, "indexMismatch", `entry ${seq} has no index row: appending its entryId again would write it twice`);
    }
    return tailReported ? [] : this.beyondEnd;
  }
}
