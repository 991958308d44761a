// The hourly self-check of the ledger: verify every chain and seal, and only then seal the heads.
// Sealing a ledger that does not verify would sign a tampered state, so a break stops the seal and
// is reported (log, metric gauge, and the "ledger does not verify" alert in infra/).
import type { LedgerBreak } from "../ports";
import type { ApiServices } from "./ports";
import { verifyLedger } from "./queries";

export interface LedgerAuditReport {
  ok: boolean;
  chains: number;
  entries: number;
  /** Seal number written by this audit; absent when the ledger did not verify. */
  sealSeq?: number;
  firstBreak?: LedgerBreak;
}

export async function runLedgerAudit(s: ApiServices): Promise<LedgerAuditReport> {
  const v = await verifyLedger(s);
  if (!v.ok) {
    return { ok: false, chains: v.chains, entries: v.entries, ...(v.firstBreak ? { firstBreak: v.firstBreak } : {}) };
  }
  const seal = await s.ledger.seal({ reason: "periodic" });
  return { ok: true, chains: v.chains, entries: v.entries, sealSeq: seal.sealSeq };
}
