// The hourly self-check of the ledger: verify every chain and seal, and only then seal the heads.
// Sealing a ledger that does not verify would sign a tampered state, so a break stops the seal and
// is reported (log, metric gauge, and the "ledger does not verify" alert in infra/).
//
// A multi-year ledger does not verify within one invocation (functionTimeout bounds timers: 10 min
// in host.json), so with a checkpoint store the audit is a sweep of pages: each invocation verifies
// chains in PartitionKey order for a time budget, stores where it stopped and what it found
// (lib/ledger/verifyCheckpoint.ts), and the invocation that reaches the last chain decides and seals.
// Every sweep starts again at the first chain and re-hashes everything (no chain is skipped on the
// strength of an earlier sweep), so the checkpoint can delay a finding by one sweep, never hide it.
// The seal at the end of a sweep signs the heads as they are then, as the one-shot audit did: an
// entry appended after its chain was verified is sealed unverified in both (appends are the app's).
import type { LedgerBreak } from "../ports";
import { rotationMetrics } from "../telemetry";
import { MAX_CARRIED_BREAKS, type AuditCheckpointStore, type AuditSweep, type LastVerification } from "../ledger/verifyCheckpoint";
import type { ApiServices } from "./ports";
import { verifyLedger } from "./queries";

/** Share of functionTimeout (10 min) one audit invocation verifies for: the rest is for the seal,
 * the checkpoint write and slow storage. */
export const AUDIT_BUDGET_MS = 6 * 60_000;

export interface LedgerAuditReport {
  /** null: the sweep is not finished (nothing decided yet, unless a break was already found). */
  ok: boolean | null;
  chains: number;
  entries: number;
  /** Seal number written by this audit; absent when the ledger did not verify. */
  sealSeq?: number;
  firstBreak?: LedgerBreak;
  /** The sweep goes on at the next invocation from this chain (PartitionKey). */
  continuation?: string;
}

export interface LedgerAuditOptions {
  /** Where the sweep keeps its place (default: the services' ledgerAudit store); without one the
   * whole ledger is verified in this invocation. */
  checkpoints?: AuditCheckpointStore;
  budgetMs?: number;
  /** Milliseconds since the invocation started (tests drive it). */
  elapsed?: () => number;
}

export async function runLedgerAudit(s: ApiServices, opts: LedgerAuditOptions = {}): Promise<LedgerAuditReport> {
  const store = opts.checkpoints ?? s.ledgerAudit;
  if (!store) {
    const v = await verifyLedger(s);
    if (!v.ok) {
      return { ok: false, chains: v.chains, entries: v.entries, ...(v.firstBreak ? { firstBreak: v.firstBreak } : {}) };
    }
    const seal = await s.ledger.seal({ reason: "periodic" });
    return { ok: true, chains: v.chains, entries: v.entries, sealSeq: seal.sealSeq };
  }
  const started = Date.now();
  const elapsed = opts.elapsed ?? (() => Date.now() - started);
  const budget = opts.budgetMs ?? AUDIT_BUDGET_MS;
  const record = await store.read();
  const now = s.clock.now().toISOString();
  const sweep: AuditSweep = record.sweep ?? { startedAt: now, cursor: "", pages: 0, chains: 0, entries: 0, breaks: [] };

  const v = await s.ledger.verify({ page: { from: sweep.cursor === "" ? undefined : sweep.cursor, stop: () => elapsed() >= budget } });
  sweep.pages += 1;
  sweep.chains += v.chains;
  sweep.entries += v.entries;
  // Every page re-reads the seal chain: its breaks come again on each page, once is enough.
  const known = new Set(sweep.breaks.map((b) => JSON.stringify(b)));
  for (const b of v.breaks ?? []) {
    if (sweep.breaks.length >= MAX_CARRIED_BREAKS) break;
    if (!known.has(JSON.stringify(b))) sweep.breaks.push(b);
  }
  const firstBreak = sweep.breaks[0];
  // A break found on an early page raises the alarm now, not at the end of the sweep.
  if (firstBreak) rotationMetrics().setLedgerVerified(false);

  if (v.continuation !== undefined) {
    sweep.cursor = v.continuation;
    await store.write({ sweep, ...(record.last ? { last: record.last } : {}) });
    return { ok: firstBreak ? false : null, chains: sweep.chains, entries: sweep.entries, continuation: v.continuation, ...(firstBreak ? { firstBreak } : {}) };
  }

  const ok = !firstBreak;
  rotationMetrics().setLedgerVerified(ok);
  const sealSeq = ok ? (await s.ledger.seal({ reason: "periodic" })).sealSeq : undefined;
  const last: LastVerification = {
    at: s.clock.now().toISOString(), startedAt: sweep.startedAt, ok, chains: sweep.chains, entries: sweep.entries, seals: v.seals, pages: sweep.pages,
    ...(firstBreak ? { firstBreak } : {}), ...(sealSeq !== undefined ? { sealSeq } : {}),
  };
  await store.write({ last });
  return { ok, chains: sweep.chains, entries: sweep.entries, ...(firstBreak ? { firstBreak } : {}), ...(sealSeq !== undefined ? { sealSeq } : {}) };
}
