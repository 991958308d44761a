// Verification: one pass over the seal chain, then an ordered scan of the whole ledger table split
// into a few PartitionKey ranges read in parallel (rows arrive sorted by PartitionKey, RowKey, so
// every chain streams in order, page by page; only the running state of the current chain per range
// and the seals' claims are held in memory). The ranges always cover the whole key space, so a
// chain missing from the registry is still verified.
import {
  SEAL_CHAIN_ID, type LedgerBreak, type LedgerProblem, type LedgerSeal, type LedgerVerification, type VerifyProgress,
} from "../ports";
import { escapeKey, unescapeKey } from "../stores/tables";
import { GENESIS_HASH } from "./canonical";
import { HEAD_ROW_KEY } from "./chainWriter";
import { ENTRY_ROW_FIELDS, entryHash, isSeqRowKey, rowToEntry } from "./entry";
import type { RowStore } from "./rowStore";
import { readSeal, sealDigest, sealRoot, type SealSigner } from "./seals";

export const SEAL_PARTITION = "seal";
const MAX_BREAKS = 1_000;
const PROGRESS_EVERY = 2_000;
const DEFAULT_CONCURRENCY = 4;

export interface VerifyDeps {
  entries: RowStore;
  seals: RowStore;
  verifier: Pick<SealSigner, "verify"> | undefined;
  now: () => Date;
  onProgress?: ((p: VerifyProgress) => void) | undefined;
  /** PartitionKeys of known chains, used to split the scan into parallel ranges. */
  shardHints?: string[];
  /** Ranges scanned in parallel (default 4). */
  concurrency?: number;
}

interface Claim {
  seq: number;
  hash: string;
  sealSeq: number;
}

class Findings {
  readonly sealBreaks: LedgerBreak[] = [];
  readonly chainBreaks: (LedgerBreak & { pk: string })[] = [];
  private count = 0;
  seal(seq: number, problem: LedgerProblem, detail: string): void {
    if (this.count++ < MAX_BREAKS) this.sealBreaks.push({ keyId: SEAL_CHAIN_ID, seq, problem, detail });
  }
  chain(keyId: string, seq: number, problem: LedgerProblem, detail: string): void {
    if (this.count++ < MAX_BREAKS) this.chainBreaks.push({ pk: escapeKey(keyId), keyId, seq, problem, detail });
  }
  /** Seal-chain breaks first, then chain breaks in table order (missing chains in their place). */
  ordered(): LedgerBreak[] {
    const chains = [...this.chainBreaks].sort((a, b) => (a.pk < b.pk ? -1 : a.pk > b.pk ? 1 : a.seq - b.seq));
    return [...this.sealBreaks, ...chains.map(({ pk: _pk, ...b }) => b)];
  }
}

const b64url = (s: string) => Buffer.from(s, "base64url");

async function verifySeals(deps: VerifyDeps, found: Findings, progress: VerifyProgress) {
  // keyId → seq → hash claimed by some seal; and the highest claim per key.
  const claims = new Map<string, Map<number, Claim>>();
  const maxClaim = new Map<string, Claim>();
  let expected = 1;
  let prevHash = GENESIS_HASH;
  let latest: LedgerSeal | undefined;
  let headRow: Record<string, unknown> | undefined;
  for await (const row of deps.seals.list({ partitionKey: SEAL_PARTITION })) {
    if (row.rowKey === HEAD_ROW_KEY) {
      headRow = row.props;
      continue;
    }
    if (!isSeqRowKey(row.rowKey)) continue;
    const at = Number(row.rowKey);
    progress.seals += 1;
    const seal = await readSeal(deps.seals, row.props);
    let resync = false;
    if (at > expected) {
      found.seal(expected, "gap", `seals ${expected}..${at - 1} are missing`);
      resync = true;
    }
    expected = at + 1;
    if (typeof seal === "string") {
      found.seal(at, "hashMismatch", `seal row is malformed: ${seal}`);
      prevHash = typeof row.props.hash === "string" ? row.props.hash : prevHash;
      continue;
    }
    if (seal.sealSeq !== at) found.seal(at, "reordered", `row ${at} holds seal ${seal.sealSeq}`);
    else if (seal.root !== sealRoot(seal.heads) || seal.chains !== seal.heads.length) found.seal(at, "hashMismatch", "the heads do not match the sealed root");
    else if (sealDigest(seal).toString("hex") !== seal.hash) found.seal(at, "hashMismatch", "the seal's fields do not match its hash");
    else if (!resync && seal.prevHash !== prevHash) found.seal(at, "hashMismatch", "prevHash does not match the previous seal");
    else if (!deps.verifier) throw new Error("[keyrotor] [ledger] verify needs the seal signer's public key to check seals; configure a SealSigner");
    else if (!(await deps.verifier.verify(Buffer.from(seal.hash, "hex"), b64url(seal.signature), seal.kid, seal.alg))) {
      found.seal(at, "badSealSignature", `the signature does not verify with ${seal.kid}`);
    }
    prevHash = seal.hash;
    latest = seal;
    for (const h of seal.heads) {
      const byKey = claims.get(h.keyId) ?? new Map<number, Claim>();
      const earlier = byKey.get(h.seq);
      if (earlier && earlier.hash !== h.hash) {
        found.chain(h.keyId, h.seq, "hashMismatch", `seals ${earlier.sealSeq} and ${seal.sealSeq} disagree on this entry's hash`);
      }
      byKey.set(h.seq, { seq: h.seq, hash: h.hash, sealSeq: seal.sealSeq });
      claims.set(h.keyId, byKey);
      const top = maxClaim.get(h.keyId);
      if (!top || h.seq >= top.seq) maxClaim.set(h.keyId, { seq: h.seq, hash: h.hash, sealSeq: seal.sealSeq });
    }
    if (progress.seals % 100 === 0) deps.onProgress?.({ ...progress });
  }
  const headSeq = headRow?.seq;
  if (typeof headSeq === "number" && headSeq >= expected) {
    found.seal(expected, "truncatedAfterSeal", `the seal head row says seal ${headSeq} exists; the chain ends at ${expected - 1}`);
  }
  return { claims, maxClaim, latest };
}

export async function verifyLedger(deps: VerifyDeps): Promise<LedgerVerification> {
  const found = new Findings();
  const progress: VerifyProgress = { phase: "seals", seals: 0, chains: 0, entries: 0 };
  deps.onProgress?.({ ...progress });
  const { claims, maxClaim, latest } = await verifySeals(deps, found, progress);

  let expectedEntries = 0;
  for (const c of maxClaim.values()) expectedEntries += c.seq;
  progress.phase = "entries";
  progress.expectedEntries = expectedEntries;
  deps.onProgress?.({ ...progress });

  const seen = new Set<string>();

  /** Verifies every chain whose PartitionKey is in [from, below); ranges run in parallel. */
  const scanRange = async (from: string | undefined, below: string | undefined) => {
    let chain: { pk: string; keyId: string; expected: number; prevHash: string; headSeq?: number; resync: boolean } | undefined;
    const finish = () => {
      if (!chain) return;
      const last = chain.expected - 1;
      if (last > 0) {
        seen.add(chain.keyId);
        progress.chains += 1;
      }
      const top = maxClaim.get(chain.keyId);
      if (last === 0) {
        if (top) found.chain(chain.keyId, 1, "chainMissing", `seal ${top.sealSeq} recorded ${top.seq} entries; none remain`);
      } else if (top && top.seq > last) {
        found.chain(chain.keyId, last + 1, "truncatedAfterSeal", `seal ${top.sealSeq} recorded ${top.seq} entries; the chain ends at ${last}`);
      } else if (chain.headSeq !== undefined && chain.headSeq > last) {
        found.chain(chain.keyId, last + 1, "gap", `the head row says ${chain.headSeq} entries; the chain ends at ${last}`);
      }
    };
    // RowKey < "i": the links ("000…1" …) and the "head" row, not the "id:…" index rows.
    for await (const row of deps.entries.list({ partitionKeyFrom: from, partitionKeyBelow: below, rowKeyBelow: "i", select: ENTRY_ROW_FIELDS })) {
      if (!chain || chain.pk !== row.partitionKey) {
        finish();
        chain = { pk: row.partitionKey, keyId: unescapeKey(row.partitionKey), expected: 1, prevHash: GENESIS_HASH, resync: false };
      }
      if (row.rowKey === HEAD_ROW_KEY) {
        if (typeof row.props.seq === "number") chain.headSeq = row.props.seq;
        continue;
      }
      if (!isSeqRowKey(row.rowKey)) continue;
      const at = Number(row.rowKey);
      progress.entries += 1;
      if (progress.entries % PROGRESS_EVERY === 0) deps.onProgress?.({ ...progress });
      if (at > chain.expected) {
        found.chain(chain.keyId, chain.expected, "gap", `entries ${chain.expected}..${at - 1} are missing`);
        chain.resync = true;
      }
      chain.expected = at + 1;
      const entry = rowToEntry(row.props);
      if (typeof entry === "string") {
        found.chain(chain.keyId, at, "hashMismatch", `row is malformed: ${entry}`);
        chain.prevHash = typeof row.props.hash === "string" ? row.props.hash : "";
        chain.resync = true;
        continue;
      }
      const claim = claims.get(chain.keyId)?.get(at);
      let broken = true;
      if (entry.seq !== at || entry.keyId !== chain.keyId) {
        found.chain(chain.keyId, at, "reordered", entry.seq !== at ? `row ${at} holds entry ${entry.seq}` : `row holds an entry of ${entry.keyId}`);
      } else if (entryHash(entry) !== entry.hash) {
        found.chain(chain.keyId, at, "hashMismatch", "the entry's fields do not match its hash");
      } else if (!chain.resync && entry.prevHash !== chain.prevHash) {
        found.chain(chain.keyId, at, "hashMismatch", "prevHash does not match the previous entry");
      } else if (claim && claim.hash !== entry.hash) {
        found.chain(chain.keyId, at, "hashMismatch", `seal ${claim.sealSeq} recorded another hash for this entry`);
      } else {
        broken = false;
      }
      // After a break, check the next link against this row as stored: one tampered row is reported
      // once, not as a cascade down the rest of the chain.
      chain.prevHash = entry.hash;
      chain.resync = broken;
    }
    finish();
  };

  // Split the key space at known chains (hints only: the ranges always cover every key).
  const hints = [...new Set(deps.shardHints ?? [])].sort();
  const shards = Math.max(1, Math.min(deps.concurrency ?? DEFAULT_CONCURRENCY, Math.floor(hints.length / 2)));
  const bounds: (string | undefined)[] = [undefined];
  for (let i = 1; i < shards; i++) bounds.push(hints[Math.floor((i * hints.length) / shards)]);
  bounds.push(undefined);
  await Promise.all(bounds.slice(0, -1).map((from, i) => scanRange(from, bounds[i + 1])));

  for (const [keyId, top] of maxClaim) {
    if (!seen.has(keyId) && !found.chainBreaks.some((b) => b.keyId === keyId && b.problem === "chainMissing")) {
      found.chain(keyId, 1, "chainMissing", `seal ${top.sealSeq} recorded ${top.seq} entries; the chain is gone`);
    }
  }

  progress.phase = "done";
  deps.onProgress?.({ ...progress });
  const breaks = found.ordered();
  const result: LedgerVerification = {
    ok: breaks.length === 0, chains: progress.chains, entries: progress.entries, seals: progress.seals, verifiedAt: deps.now().toISOString(),
  };
  if (breaks[0]) {
    result.firstBreak = breaks[0];
    result.breaks = breaks;
  }
  if (latest) result.latestSeal = { sealSeq: latest.sealSeq, at: latest.at, root: latest.root, kid: latest.kid };
  return result;
}
