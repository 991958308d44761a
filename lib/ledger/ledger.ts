// The hash-chained ledger: one chain per managed key, one seal chain, verify. Storage-agnostic
// (RowStore); tableLedger() and memoryLedger() in index.ts pick the storage.
import type { TableClient } from "@azure/data-tables";
import {
  systemClock, type Clock, type LedgerAppend, type LedgerEntry, type LedgerSeal, type LedgerVerification, type SealHead,
  type VerifiableLedger, type VerifyProgress,
} from "../ports";
import { InvariantViolationError } from "../domain/errors";
import { escapeKey } from "../stores/tables";
import { ChainWriter, HEAD_ROW_KEY } from "./chainWriter";
import { buildEntry, entryToRow, rowToEntry, seqRowKey, validateAppend } from "./entry";
import { MemoryRowStore, type RowStore } from "./rowStore";
import { headsPartition, headsRowsFor, readSeal, sealDigest, sealRoot, sealToRow, type SealSigner } from "./seals";
import { TableRowStore } from "./tableRowStore";
import { SEAL_PARTITION, verifyLedger } from "./verify";

/** The seals table also holds the chain registry (one row per chain), so a seal reads every head
 * with point reads instead of scanning the ledger. */
const CHAIN_REGISTRY_PARTITION = "chain";
const idRowKey = (entryId: string) => `id:${escapeKey(entryId)}`;
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

  constructor(private readonly opts: LedgerOptions) {
    this.chains = new ChainWriter(opts.entries, "ledger");
    this.sealChain = new ChainWriter(opts.seals, "ledger seals");
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

  /** The entry appended under `entryId`, if any. */
  async byEntryId(keyId: string, entryId: string): Promise<LedgerEntry | undefined> {
    const pk = escapeKey(keyId);
    const idRow = await this.opts.entries.get(pk, idRowKey(entryId));
    if (!idRow) return undefined;
    const seq = idRow.props.seq;
    const row = typeof seq === "number" ? await this.opts.entries.get(pk, seqRowKey(seq)) : undefined;
    const entry = row ? rowToEntry(row.props) : "the entry row is missing";
    if (typeof entry === "string") {
      throw new InvariantViolationError("LedgerCorrupt", `[keyrotor] [ledger] entry ${entryId} of ${keyId} is indexed at ${String(seq)} but ${entry}; run ledger verify`);
    }
    return entry;
  }

  private async register(keyId: string): Promise<void> {
    if (this.registered.has(keyId)) return;
    await this.opts.seals.upsert(CHAIN_REGISTRY_PARTITION, escapeKey(keyId), { keyId });
    this.registered.add(keyId);
  }

  async *entries(keyId: string, opts: { fromSeq?: number } = {}): AsyncIterable<LedgerEntry> {
    const range = { partitionKey: escapeKey(keyId), rowKeyFrom: seqRowKey(Math.max(1, opts.fromSeq ?? 1)), rowKeyBelow: HEAD_ROW_KEY };
    for await (const row of this.opts.entries.list(range)) {
      const entry = rowToEntry(row.props);
      if (typeof entry === "string") {
        throw new InvariantViolationError("LedgerCorrupt", `[keyrotor] [ledger] row ${row.rowKey} of ${keyId}: ${entry}; run ledger verify`);
      }
      yield entry;
    }
  }

  /** keyIds of every chain ever started (from the registry). */
  async *chainIds(): AsyncIterable<string> {
    for await (const row of this.opts.seals.list({ partitionKey: CHAIN_REGISTRY_PARTITION })) {
      if (typeof row.props.keyId === "string") yield row.props.keyId;
    }
  }

  /** Current heads of all registered chains (point reads, a few in parallel). */
  async heads(): Promise<SealHead[]> {
    const keyIds: string[] = [];
    for await (const k of this.chainIds()) keyIds.push(k);
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

  async *seals(range: { from?: string; to?: string } = {}): AsyncIterable<LedgerSeal> {
    for await (const row of this.opts.seals.list({ partitionKey: SEAL_PARTITION, rowKeyBelow: HEAD_ROW_KEY })) {
      const seal = await readSeal(this.opts.seals, row.props);
      if (typeof seal === "string") throw new InvariantViolationError("LedgerCorrupt", `[keyrotor] [ledger] seal row ${row.rowKey}: ${seal}; run ledger verify`);
      if (range.from !== undefined && seal.at < range.from) continue;
      if (range.to !== undefined && seal.at >= range.to) continue;
      yield seal;
    }
  }

  async latestSeal(): Promise<LedgerSeal | undefined> {
    const head = await this.sealChain.readHead(SEAL_PARTITION);
    if (head.seq === 0) return undefined;
    const row = await this.opts.seals.get(SEAL_PARTITION, seqRowKey(head.seq));
    const seal = row ? await readSeal(this.opts.seals, row.props) : undefined;
    return typeof seal === "object" ? seal : undefined;
  }

  async verify(opts: { onProgress?: (p: VerifyProgress) => void; concurrency?: number } = {}): Promise<LedgerVerification> {
    const shardHints: string[] = [];
    for await (const keyId of this.chainIds()) shardHints.push(escapeKey(keyId));
    return verifyLedger({
      entries: this.opts.entries, seals: this.opts.seals, verifier: this.opts.signer, now: () => this.clock.now(), onProgress: opts.onProgress,
      shardHints, concurrency: opts.concurrency,
    });
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
