// Verification: one pass over the seal chain, then an ordered scan of the whole ledger table split
// into a few PartitionKey ranges read in parallel (rows arrive sorted by PartitionKey, RowKey, so
// every chain streams in order, page by page; only the running state of the current chain per range
// and the seals' claims are held in memory). The ranges always cover the whole key space and every
// row of it, so a chain missing from the registry is still verified and reported, and a row that is
// no entry, head or index row is reported rather than skipped. The rules per chain are ChainCheck's,
// the same entries() applies.
import {
  SEAL_CHAIN_ID, type LedgerBreak, type LedgerProblem, type LedgerSeal, type LedgerVerification, type VerifyProgress,
} from "../ports";
import { escapeKey, unescapeKey } from "../stores/tables";
import { GENESIS_HASH } from "./canonical";
import { HEAD_ROW_KEY } from "./chainWriter";
import { ChainCheck, type Claim } from "./chainCheck";
import { ENTRY_ROW_FIELDS, seqOfRowKey, seqRowKey } from "./entry";
import type { RowStore } from "./rowStore";
import { readSeal, sealDigest, sealRoot, type SealSigner } from "./seals";

export const SEAL_PARTITION = "seal";
const MAX_BREAKS = 1_000;
const PROGRESS_EVERY = 2_000;
const DEFAULT_CONCURRENCY = 4;

export interface SealAnchor {
  sealSeq: number;
  /** The seal's hash (hex). */
  hash: string;
}

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
  /** keyIds in the chain registry: a chain with rows and no registry row is never sealed again. */
  registry?: ReadonlySet<string>;
  /** A seal known from outside the storage account (say the newest one exported to immutable Blob
   * storage): it must still be in the seal chain. Catches the newest seals deleted together with the
   * seal head row, which nothing inside the account can. */
  anchor?: SealAnchor | undefined;
  /** Reads the registry row again (a chain started while verify ran registers after `registry` was read). */
  registeredNow?: (keyId: string) => Promise<boolean>;
}

/** One page of a verification split over several calls (the audit timer and the HTTP verify live
 * under Azure's time limits: functionTimeout, 230 s per HTTP response). A page re-checks the whole
 * seal chain (small: one row per seal) and then the chains whose PartitionKey is at or after `from`,
 * in order, one range (no parallel split: a page must end at one point of the key space), stopping
 * at the first chain boundary once `stop()` says so. The unit of progress is one chain. */
export interface VerifyPage {
  /** PartitionKey to start at (the previous page's `continuation`); undefined = the first chain. */
  from?: string | undefined;
  /** Asked between chains: true ends the page there. */
  stop: () => boolean;
}

/** A page's result: the findings over the seals and the chains it covered; `continuation` is the
 * PartitionKey of the first chain not yet verified (absent when the page reached the end). */
export type PagedVerification = LedgerVerification & { continuation?: string };

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
    const at = seqOfRowKey(row.rowKey);
    if (at === undefined) {
      // seals() would otherwise be the only reader of a forged seal under a RowKey verify skipped.
      found.seal(expected - 1, "strayRow", `row "${row.rowKey}" is no seal or head row`);
      continue;
    }
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
    if (deps.anchor?.sealSeq === at && deps.anchor.hash !== seal.hash) {
      found.seal(at, "hashMismatch", `the seal exported as ${deps.anchor.hash} was replaced`);
    }
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
  const last = expected - 1;
  if (deps.anchor && deps.anchor.sealSeq > last) {
    found.seal(last + 1, "truncatedAfterSeal", `seal ${deps.anchor.sealSeq} was exported; the seal chain ends at ${last}`);
  }
  if (typeof headSeq === "number" && headSeq >= expected) {
    found.seal(expected, "truncatedAfterSeal", `the seal head row says seal ${headSeq} exists; the chain ends at ${last}`);
  } else if (last > 0 && !headRow) {
    found.seal(last, "headMismatch", `the seal head row is missing; the chain ends at ${last}`);
  } else if (last > 0 && (headSeq !== last || headRow?.hash !== prevHash)) {
    // A rewound head row makes the next seal collide with an existing row (appends refuse).
    found.seal(last, "headMismatch", `the seal head row names seal ${String(headSeq)} with another hash or number than the last seal, ${last}`);
  }
  return { claims, maxClaim, latest };
}

export async function verifyLedger(deps: VerifyDeps, page?: VerifyPage): Promise<PagedVerification> {
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
  /** Where a page stopped (the first PartitionKey it did not verify). */
  let stoppedAt: string | undefined;

  /** Verifies every chain whose PartitionKey is in [from, below); ranges run in parallel. */
  const scanRange = async (from: string | undefined, below: string | undefined) => {
    let chain: { pk: string; keyId: string; check: ChainCheck } | undefined;
    const finish = async () => {
      if (!chain) return;
      const { pk, keyId, check } = chain, last = check.last;
      for (const p of check.finish()) {
        // Appended while the scan was past the head row? Then the entry is there now.
        const now = await deps.entries.get(pk, seqRowKey(p.seq));
        if (now?.props.entryId !== p.entryId) found.chain(keyId, p.seq, "indexMismatch", p.detail);
      }
      if (last > 0) {
        seen.add(keyId);
        progress.chains += 1;
        if (deps.registry && !deps.registry.has(keyId) && !(await deps.registeredNow?.(keyId))) {
          found.chain(keyId, last, "unregistered", "the chain registry has no row for this chain: seals would leave it out");
        }
      }
    };
    // Every row of every partition: entries, the head row, the index rows and anything else, which
    // is a stray row (a row entries() skipped here would be a row it could return unverified).
    for await (const row of deps.entries.list({ partitionKeyFrom: from, partitionKeyBelow: below, select: ENTRY_ROW_FIELDS })) {
      if (!chain || chain.pk !== row.partitionKey) {
        await finish();
        if (page && chain && page.stop()) {
          stoppedAt = row.partitionKey;
          chain = undefined; // finished above
          break;
        }
        const keyId = unescapeKey(row.partitionKey);
        chain = {
          pk: row.partitionKey, keyId,
          check: new ChainCheck({ keyId, claims: claims.get(keyId), top: maxClaim.get(keyId), indexRows: true, report: (seq, problem, detail) => found.chain(keyId, seq, problem, detail) }),
        };
      }
      if (chain.check.row(row.rowKey, row.props) === "other") continue;
      progress.entries += 1;
      if (progress.entries % PROGRESS_EVERY === 0) deps.onProgress?.({ ...progress });
    }
    await finish();
  };

  // Split the key space at known chains (hints only: the ranges always cover every key).
  const hints = [...new Set(deps.shardHints ?? [])].sort();
  const shards = Math.max(1, Math.min(deps.concurrency ?? DEFAULT_CONCURRENCY, Math.floor(hints.length / 2)));
  if (page) {
    await scanRange(page.from, undefined);
  } else {
    const bounds: (string | undefined)[] = [undefined];
    for (let i = 1; i < shards; i++) bounds.push(hints[Math.floor((i * hints.length) / shards)]);
    bounds.push(undefined);
    await Promise.all(bounds.slice(0, -1).map((from, i) => scanRange(from, bounds[i + 1])));
  }
  // A page answers for the chains in the part of the key space it covered, and only for those.
  const covered = (keyId: string) => {
    const pk = escapeKey(keyId);
    return !page || ((page.from === undefined || pk >= page.from) && (stoppedAt === undefined || pk < stoppedAt));
  };

  const reportedMissing = (keyId: string) => found.chainBreaks.some((b) => b.keyId === keyId && b.problem === "chainMissing");
  for (const [keyId, top] of maxClaim) {
    if (covered(keyId) && !seen.has(keyId) && !reportedMissing(keyId)) {
      found.chain(keyId, 1, "chainMissing", `seal ${top.sealSeq} recorded ${top.seq} entries; the chain is gone`);
    }
  }
  // Registered but never sealed: the registry row is the only witness left of a deleted chain (or of
  // a first append that never completed: the registry row is written before the first entry).
  for (const keyId of deps.registry ?? []) {
    if (covered(keyId) && !seen.has(keyId) && !maxClaim.has(keyId) && !reportedMissing(keyId)) {
      // Its first entry may have been committed after the scan passed its partition.
      if (await deps.entries.get(escapeKey(keyId), HEAD_ROW_KEY)) continue;
      found.chain(keyId, 1, "chainMissing", "the chain registry names this chain; none of its entries remain");
    }
  }

  progress.phase = "done";
  deps.onProgress?.({ ...progress });
  const breaks = found.ordered();
  const result: PagedVerification = {
    ok: breaks.length === 0, chains: progress.chains, entries: progress.entries, seals: progress.seals, verifiedAt: deps.now().toISOString(),
  };
  if (breaks[0]) {
    result.firstBreak = breaks[0];
    result.breaks = breaks;
  }
  if (latest) result.latestSeal = { sealSeq: latest.sealSeq, at: latest.at, root: latest.root, kid: latest.kid };
  if (stoppedAt !== undefined) result.continuation = stoppedAt;
  return result;
}
