// Timer ledgerAudit (hourly): verifies the whole ledger and, when it verifies, seals the heads of
// all chains (the periodic seal of issue 4; rotations also seal when they end). lib/api/ledgerAudit.ts.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import { runLedgerAudit } from "../lib/api/ledgerAudit";
import { services } from "../lib/api/services";

export async function ledgerAudit(_timer: Timer, ctx: InvocationContext): Promise<void> {
  const r = await runLedgerAudit(await services());
  if (r.ok) {
    ctx.log(`[keyrotor] [ledger] verified ${r.entries} entries in ${r.chains} chains; sealed as #${r.sealSeq}`);
    return;
  }
  // Not thrown: a retry cannot repair tampering, and the failed run must not hide the next hour's.
  ctx.error(`[keyrotor] [ledger] DOES NOT VERIFY: ${JSON.stringify(r.firstBreak)}; no seal written. See docs/ledger.md.`);
}

app.timer("ledgerAudit", { schedule: "0 7 * * * *", useMonitor: true, handler: ledgerAudit });
