// The hourly ledger audit seals only a ledger that verifies: a tampered ledger is reported and no
// seal signs the tampered state.
import { describe, expect, it } from "vitest";
import { runLedgerAudit } from "../../../lib/api/ledgerAudit";
import { memoryApiServices } from "../../../lib/api/services";
import { ephemeralSealSigner, tableLedger } from "../../../lib/ledger";
import { escapeKey } from "../../../lib/stores/tables";
import { freshTable } from "../../support/tables";
import { step } from "../../unit/ledger/ledgerContract";

const KEY = "kek:demo-vault/tenant-kek";

async function auditedWorld() {
  const entries = await freshTable("ledger");
  const seals = await freshTable("seals");
  const ledger = tableLedger({ entries, seals, signer: ephemeralSealSigner() });
  for (let i = 1; i <= 5; i++) await ledger.append(step(KEY, i));
  const { services } = memoryApiServices();
  return { services: { ...services, ledger }, ledger, entries };
}

async function sealCount(ledger: { seals(): AsyncIterable<unknown> }): Promise<number> {
  let n = 0;
  for await (const _ of ledger.seals()) n++;
  return n;
}

describe("ledger audit", () => {
  it("verifies the ledger and then seals the heads of all chains", async () => {
    const w = await auditedWorld();
    const report = await runLedgerAudit(w.services);
    expect(report).toMatchObject({ ok: true, chains: 1, entries: 5, sealSeq: 1 });
    expect(await sealCount(w.ledger)).toBe(1);
    expect((await w.ledger.verify()).ok).toBe(true);
  });

  it("reports a tampered ledger with its first break and writes no seal", async () => {
    const w = await auditedWorld();
    await w.entries.updateEntity({ partitionKey: escapeKey(KEY), rowKey: String(3).padStart(12, "0"), actor: "mallory" }, "Merge");
    const report = await runLedgerAudit(w.services);
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({ keyId: KEY, seq: 3, problem: "hashMismatch" });
    expect(report.sealSeq).toBeUndefined();
    expect(await sealCount(w.ledger)).toBe(0);
  });
});
