// The hash-chained ledger: one chain per managed key, one seal chain, verify. Storage-agnostic
// (RowStore); tableLedger() and memoryLedger() in index.ts pick the storage.
import type { TableClient } from "@azure/data-tables";
import {
  SEAL_CHAIN_ID, systemClock, type Clock, type LedgerAppend, type LedgerBreak, type LedgerEntry, type LedgerSeal,
  type SealHead, type VerifiableLedger, type VerifyProgress,
} from "../ports";
import { escapeKey, unescapeKey } from "../stores/tables";
import { GENESIS_HASH } from "./canonical";
import { ChainCheck } from "./chainCheck";
import { ChainWriter, HEAD_ROW_KEY } from "./chainWriter";
import { buildEntry, entryHash, entryToRow, idRowKey, rowToEntry, seqOfRowKey, seqRowKey, validateAppend } from "./entry";
import { MemoryRowStore, type RowStore } from "./rowStore";
import { headsPartition, headsRowsFor, readSeal, sealDigest, sealRoot, sealToRow, type SealSigner } from "./seals";
import { TableRowStore } from "./tableRowStore";
import { LedgerTamperedError } from "./tampered";
import { SEAL_PARTITION, verifyLedger, type PagedVerification, type SealAnchor, type VerifyPage } from "./verify";

/** The seals table also holds the chain registry (one row per chain), so a seal reads every head
 * with point reads instead of scanning the ledger. */
const CHAIN_REGISTRY_PARTITION = "chain";
const HEAD_READ_CONCURRENCY = 16;

export interface LedgerOptions {
  entries: RowStore;
  seals: RowStore;
  /** Signs new seals and verifies old ones; without it, seal() and verify() of sealed ledgers fail. */
  signer?: SealSigner;
  clock?: Clock;
  /** Lost races tolerated per append before giving up with RotationConflictError. */
  maxAttempts?: number;
  /** Heads text up to this size stays in the seal row (default INLINE_HEADS_CHARS; tests lower it). */
  inlineHeadsChars?: number;
}

export class HashChainLedger implements VerifiableLedger {
  private readonly chains: ChainWriter;
  private readonly sealChain: ChainWriter;
  private readonly registered = new Set<string>();
  private readonly clock: Clock;
  /** The latest seal's head of every chain, kept while the seal chain's head row stays the same. */
  private sealedHeads: { hash: string; byKey: Map<string, SealHead> } | undefined;

  constructor(private readonly opts: LedgerOptions) {
    this.chains = new ChainWriter(opts.entries, "ledger", unescapeKey);
    this.sealChain = new ChainWriter(opts.seals, "ledger seals", () => SEAL_CHAIN_ID);
    this.clock = opts.clock ?? systemClock;
  }

  async append(a: LedgerAppend): Promise<LedgerEntry> {
    validateAppend(a);
    const pk = escapeKey(a.keyId);
    const idKey = idRowKey(a.entryId);
    return this.chains.append<LedgerEntry>(pk, {
      maxAttempts: this.opts.maxAttempts,
      onNewChain: () => this.register(a.keyId),
      build: (prev) => {
        const entry = buildEntry(a, prev.seq + 1, prev.hash, a.at ?? this.clock.now().toISOString());
        return {
          creates: [
            { rowKey: seqRowKey(entry.seq), props: entryToRow(entry) },
            { rowKey: idKey, props: { seq: entry.seq } },
          ],
          headProps: { keyId: a.keyId, at: entry.at },
          hash: entry.hash,
          result: entry,
        };
      },
      alreadyWritten: () => this.byEntryId(a.keyId, a.entryId),
    });
  }

  /** The entry appended under `entryId`, if any. The index row is checked against the entry it
   * names (same keyId, seq and entryId, intact hash): a planted or stale index row would otherwise
   * make an append, or an "already done?" check, silently skip a step. Throws LedgerTamperedError. */
  async byEntryId(keyId: string, entryId: string): Promise<LedgerEntry | undefined> {
    const pk = escapeKey(keyId);
    const idRow = await this.opts.entries.get(pk, idRowKey(entryId));
    if (!idRow) return undefined;
    const seq = idRow.props.seq;
    const tampered = (detail: string): never => {
      throw new LedgerTamperedError({ keyId, seq: typeof seq === "number" ? seq : 0, problem: "indexMismatch", detail: `the index row of entry ${entryId} ${detail}` });
    };
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return tampered("names no sequence number");
    const row = await this.opts.entries.get(pk, seqRowKey(seq));
    const entry = row ? rowToEntry(row.props) : undefined;
    if (entry === undefined) return tampered(`names entry ${seq}, which does not exist`);
    if (typeof entry === "string") return tampered(`names entry ${seq}, which is malformed: ${entry}`);
    if (entry.entryId !== entryId || entry.keyId !== keyId || entry.seq !== seq) return tampered(`names entry ${seq}, which holds another entry`);
    if (entryHash(entry) !== entry.hash) return tampered(`names entry ${seq}, whose fields do not match its hash`);
    return entry;
  }

  private async register(keyId: string): Promise<void> {
    if (this.registered.has(keyId)) return;
    await this.opts.seals.upsert(CHAIN_REGISTRY_PARTITION, escapeKey(keyId), { keyId });
    this.registered.add(keyId);
  }

  /**
   * Entries of one chain in order, each checked as verify() checks it: RowKey, seq, keyId, hash,
   * link to the previous entry, no gap, the latest seal's recorded head, and at the end the head
   * row. The API, the evidence pack and rollback read history here, so a row verify would not accept
   * is never returned: the iteration throws LedgerTamperedError instead.
   *
   * Why throw rather than return the verified prefix: a prefix looks like a complete, shorter
   * history, so an auditor would read a cut or forged chain as intact, and a rollback would act on
   * the last entry it saw (say an older Promoted entry, re-promoting the wrong version). A loud
   * refusal is what an auditor expects. The tail checks run after the last row, so callers act on
   * what they read only once the iteration has completed (all of them collect, then act).
   */
  async *entries(keyId: string, opts: { fromSeq?: number } = {}): AsyncIterable<LedgerEntry> {
    const pk = escapeKey(keyId);
    const fromSeq = Math.max(1, Math.floor(opts.fromSeq ?? 1));
    const sealed = await this.sealedHeadsByKey();
    const top = sealed.heads.get(keyId);
    const claim = top ? { ...top, sealSeq: sealed.sealSeq } : undefined;
    const check = new ChainCheck({
      keyId, top: claim, claims: claim ? new Map([[claim.seq, claim]]) : undefined,
      report: (seq, problem, detail) => {
        throw new LedgerTamperedError({ keyId, seq, problem, detail });
      },
    });
    // From the middle: link to the stored entry before it (verify checks that one's own links). If it
    // is not there, read from the start so the check can tell a gap from a short chain.
    let start = 1;
    let prev: LedgerEntry | undefined;
    if (fromSeq > 1) {
      const row = await this.opts.entries.get(pk, seqRowKey(fromSeq - 1));
      const e = row ? rowToEntry(row.props) : undefined;
      if (typeof e === "object" && e.seq === fromSeq - 1 && e.keyId === keyId && entryHash(e) === e.hash) {
        check.startAfter(e.seq, e.hash);
        start = fromSeq;
        prev = e;
      }
    }
    // The head row as it was before the read: every entry it counts must be among the rows read.
    // Entries appended while we read may follow; then the head row read again names the last one.
    const before = await this.opts.entries.get(pk, HEAD_ROW_KEY);
    let hashAtBefore = prev && before?.props.seq === prev.seq ? prev.hash : undefined;
    const range = { partitionKey: pk, rowKeyBelow: HEAD_ROW_KEY, ...(start > 1 ? { rowKeyFrom: seqRowKey(start) } : {}) };
    for await (const row of this.opts.entries.list(range)) {
      const entry = check.row(row.rowKey, row.props);
      if (typeof entry === "object" && entry.seq === before?.props.seq) hashAtBefore = entry.hash;
      if (typeof entry === "object" && entry.seq >= fromSeq) yield entry;
    }
    const last = check.last;
    const beforeSeq = before ? before.props.seq : 0;
    const grewWhileReading = typeof beforeSeq === "number" && beforeSeq < last && (beforeSeq === 0 ? start === 1 : before?.props.hash === hashAtBefore);
    const head = before?.props.seq === last || !grewWhileReading ? before : await this.opts.entries.get(pk, HEAD_ROW_KEY);
    if (head) {
      // Grown past what we read since: the last entry read is not the head's, and that is fine.
      const grownSince = grewWhileReading && typeof head.props.seq === "number" && head.props.seq > last;
      check.row(HEAD_ROW_KEY, grownSince ? { seq: last, hash: check.lastEntryHash } : head.props);
    }
    check.finish();
  }

  /** The latest seal's heads by keyId (one point read while no new seal was written). A latest seal
   * that cannot be read is tampering: reads refuse until someone investigates. */
  private async sealedHeadsByKey(): Promise<{ sealSeq: number; heads: Map<string, SealHead> }> {
    const head = await this.sealChain.readHead(SEAL_PARTITION);
    if (head.seq === 0) return { sealSeq: 0, heads: new Map() };
    if (this.sealedHeads?.hash === head.hash) return { sealSeq: head.seq, heads: this.sealedHeads.byKey };
    const row = await this.opts.seals.get(SEAL_PARTITION, seqRowKey(head.seq));
    const seal = row ? await readSeal(this.opts.seals, row.props) : "the seal row is missing";
    if (typeof seal === "string" || seal.hash !== head.hash || seal.sealSeq !== head.seq) {
      const detail = typeof seal === "string" ? seal : "the seal head row names another seal";
      throw new LedgerTamperedError({ keyId: SEAL_CHAIN_ID, seq: head.seq, problem: "headMismatch", detail: `latest seal: ${detail}` });
    }
    const byKey = new Map(seal.heads.map((h) => [h.keyId, h]));
    this.sealedHeads = { hash: head.hash, byKey };
    return { sealSeq: head.seq, heads: byKey };
  }

  /** keyIds of every chain ever started (from the registry; a row whose keyId is not the one its
   * RowKey names registers nothing). */
  async *chainIds(): AsyncIterable<string> {
    for await (const row of this.opts.seals.list({ partitionKey: CHAIN_REGISTRY_PARTITION })) {
      if (typeof row.props.keyId === "string" && escapeKey(row.props.keyId) === row.rowKey) yield row.props.keyId;
    }
  }

  /** Current heads of all registered chains, and of every chain the latest seal recorded (a deleted
   * registry row must not drop a sealed chain from every later seal). Point reads, a few in parallel. */
  async heads(): Promise<SealHead[]> {
    const keys = new Set<string>();
    for await (const k of this.chainIds()) keys.add(k);
    for (const h of (await this.latestSeal())?.heads ?? []) keys.add(h.keyId);
    const keyIds = [...keys];
    const heads: SealHead[] = [];
    let next = 0;
    const worker = async () => {
      while (next < keyIds.length) {
        const keyId = keyIds[next++]!;
        const head = await this.chains.readHead(escapeKey(keyId));
        if (head.seq > 0) heads.push({ keyId, seq: head.seq, hash: head.hash });
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEAD_READ_CONCURRENCY, keyIds.length) }, worker));
    return heads.sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  }

  /** The seal key, to sign what the ledger vouches for besides seals (the evidence pack's manifest),
   * so all of it verifies offline under one public key. Undefined without a signer. */
  manifestSigner(): SealSigner | undefined {
    return this.opts.signer;
  }

  async seal(opts: { reason?: string; rotationId?: string; at?: string } = {}): Promise<LedgerSeal> {
    const signer = this.opts.signer;
    if (!signer) throw new Error("[keyrotor] [ledger] seal() needs a SealSigner (set KEYROTOR_SEAL_KEY_ID)");
    const heads = await this.heads();
    const root = sealRoot(heads);
    // Too many chains for one entity: the heads go first into rows addressed by their root, then
    // the seal row that refers to them.
    const headsRows = headsRowsFor(heads, this.opts.inlineHeadsChars);
    for (const r of headsRows) await this.opts.seals.upsert(headsPartition(root), r.rowKey, r.props);
    return this.sealChain.append<LedgerSeal>(SEAL_PARTITION, {
      maxAttempts: this.opts.maxAttempts,
      build: async (prev) => {
        const payload = {
          sealSeq: prev.seq + 1, at: opts.at ?? this.clock.now().toISOString(), chains: heads.length, root, prevHash: prev.hash,
          kid: signer.kid, alg: signer.alg, ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          ...(opts.rotationId !== undefined ? { rotationId: opts.rotationId } : {}),
        };
        const digest = sealDigest(payload);
        const signature = Buffer.from(await signer.sign(digest)).toString("base64url");
        const seal: LedgerSeal = { ...payload, heads, hash: digest.toString("hex"), signature };
        return { creates: [{ rowKey: seqRowKey(seal.sealSeq), props: sealToRow(seal, headsRows.length) }], headProps: { at: seal.at }, hash: seal.hash, result: seal };
      },
    });
  }

  /** Seals in order, each checked as verify() checks it (RowKey, number, root, hash, link to the
   * previous seal, signature when a signer is configured, and the seal head row at the end): the
   * evidence pack must never carry a seal verify would reject. Throws LedgerTamperedError. */
  async *seals(range: { from?: string; to?: string } = {}): AsyncIterable<LedgerSeal> {
    const tampered = (seq: number, problem: LedgerBreak["problem"], detail: string): never => {
      throw new LedgerTamperedError({ keyId: SEAL_CHAIN_ID, seq, problem, detail });
    };
    let expected = 1;
    let prevHash = GENESIS_HASH;
    for await (const row of this.opts.seals.list({ partitionKey: SEAL_PARTITION, rowKeyBelow: HEAD_ROW_KEY })) {
      const at = seqOfRowKey(row.rowKey);
      if (at === undefined) tampered(expected - 1, "strayRow", `row "${row.rowKey}" is no seal row`);
      else if (at !== expected) tampered(expected, "gap", `seals ${expected}..${at - 1} are missing`);
      const seal = await readSeal(this.opts.seals, row.props);
      if (typeof seal === "string") return tampered(expected, "hashMismatch", `the seal row is malformed: ${seal}`);
      if (seal.sealSeq !== expected) tampered(expected, "reordered", `row ${expected} holds seal ${seal.sealSeq}`);
      if (seal.root !== sealRoot(seal.heads) || seal.chains !== seal.heads.length || sealDigest(seal).toString("hex") !== seal.hash || seal.prevHash !== prevHash) {
        tampered(expected, "hashMismatch", "the seal's heads, fields or link do not match its hash");
      }
      const signer = this.opts.signer;
      if (signer && !(await signer.verify(Buffer.from(seal.hash, "hex"), Buffer.from(seal.signature, "base64url"), seal.kid, seal.alg))) {
        tampered(expected, "badSealSignature", `the signature does not verify with ${seal.kid}`);
      }
      expected += 1;
      prevHash = seal.hash;
      if (range.from !== undefined && seal.at < range.from) continue;
      if (range.to !== undefined && seal.at >= range.to) continue;
      yield seal;
    }
    const head = await this.sealChain.readHead(SEAL_PARTITION);
    if (head.seq !== expected - 1 || (head.seq > 0 && head.hash !== prevHash)) {
      tampered(expected - 1, head.seq >= expected ? "truncatedAfterSeal" : "headMismatch", `the seal head row names seal ${head.seq}; the chain ends at ${expected - 1}`);
    }
  }

  async latestSeal(): Promise<LedgerSeal | undefined> {
    const head = await this.sealChain.readHead(SEAL_PARTITION);
    if (head.seq === 0) return undefined;
    const row = await this.opts.seals.get(SEAL_PARTITION, seqRowKey(head.seq));
    const seal = row ? await readSeal(this.opts.seals, row.props) : undefined;
    return typeof seal === "object" ? seal : undefined;
  }

  /** `anchor`: a seal kept outside the storage account (e.g. the newest exported one), which the seal
   * chain must still hold. */
  async verify(opts: { onProgress?: (p: VerifyProgress) => void; concurrency?: number; anchor?: SealAnchor; page?: VerifyPage } = {}): Promise<PagedVerification> {
    const registry = new Set<string>();
    for await (const keyId of this.chainIds()) registry.add(keyId);
    return verifyLedger({
      entries: this.opts.entries, seals: this.opts.seals, verifier: this.opts.signer, now: () => this.clock.now(), onProgress: opts.onProgress,
      shardHints: [...registry].map(escapeKey), concurrency: opts.concurrency, registry, anchor: opts.anchor,
      registeredNow: async (keyId) => (await this.opts.seals.get(CHAIN_REGISTRY_PARTITION, escapeKey(keyId)))?.props.keyId === keyId,
    }, opts.page);
  }
}

export interface TableLedgerOptions {
  /** The ledger table (KEYROTOR_TABLE_LEDGER). */
  entries: TableClient;
  /** The seals table (KEYROTOR_TABLE_SEALS). */
  seals: TableClient;
  signer?: SealSigner;
  clock?: Clock;
  maxAttempts?: number;
  inlineHeadsChars?: number;
}

export function tableLedger(o: TableLedgerOptions): HashChainLedger {
  return new HashChainLedger({ ...o, entries: new TableRowStore(o.entries, "ledger"), seals: new TableRowStore(o.seals, "ledger seals") });
}

export function memoryLedger(o: { signer?: SealSigner; clock?: Clock; inlineHeadsChars?: number } = {}): HashChainLedger {
  return new HashChainLedger({ ...o, entries: new MemoryRowStore(), seals: new MemoryRowStore() });
}
