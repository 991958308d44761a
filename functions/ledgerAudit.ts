// Timer ledgerAudit (hourly): verifies the ledger and, when it verifies, seals the heads of all
// chains (a periodic seal bounds what an unsealed tail can hide; rotations also seal when they end). Over a large ledger one
// run verifies a page within AUDIT_BUDGET_MS (functionTimeout bounds timers) and the next run goes
// on from the stored checkpoint; see lib/api/ledgerAudit.ts.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import { runLedgerAudit } from "../lib/api/ledgerAudit";
import { composition } from "./_app";

export async function ledgerAudit(_timer: Timer, ctx: InvocationContext): Promise<void> {
  // The checkpoint is the services' ledgerAudit store (the locks table): runs may land on any instance.
  const r = await runLedgerAudit((await composition(ctx)).api);
  if (r.ok === false) {
    // Not thrown: a retry cannot repair tampering, and the failed run must not hide the next hour's.
    ctx.error(`[keyrotor] [ledger] DOES NOT VERIFY: ${JSON.stringify(r.firstBreak)}; no seal written. See docs/ledger.md.`);
  } else if (r.ok === null) {
    ctx.log(`[keyrotor] [ledger] verified ${r.entries} entries in ${r.chains} chains so far; the next run goes on from ${r.continuation}`);
  } else {
    ctx.log(`[keyrotor] [ledger] verified ${r.entries} entries in ${r.chains} chains; sealed as #${r.sealSeq}`);
  }
}

app.timer("ledgerAudit", { schedule: "0 7 * * * *", useMonitor: true, handler: ledgerAudit });
