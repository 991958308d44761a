import { describe, expect, it } from "vitest";
import { ephemeralSealSigner, memoryLedger, type HashChainLedger } from "../../../lib/ledger";
import { InvalidRequestError } from "../../../lib/domain/errors";
import type { LedgerAppend } from "../../../lib/ports";
import { buildEvidencePack, evidenceCsv, evidenceMarkdown } from "../../../lib/ledger/evidence";
import { frameworkOf } from "../../../lib/ledger/controls";
import { AFTER_Q1, Q1, keys, policies, writeQuarter } from "./evidenceScenario";

const K = "kek:vault-a/k";
const ledgerWith = async (entries: Omit<LedgerAppend, "keyId" | "entryId">[]): Promise<HashChainLedger> => {
  const ledger = memoryLedger({ signer: ephemeralSealSigner() });
  for (const [i, e] of entries.entries()) await ledger.append({ keyId: K, entryId: `e${i}`, ...e });
  return ledger;
};
const completed = (rotationId: string, at: string): Omit<LedgerAppend, "keyId" | "entryId"> => ({ type: "Completed", rotationId, actor: "system:orchestrator", at });

describe("evidence pack", () => {
  it("records a rotation completed after its due date as late within the period", async () => {
    const ledger = await ledgerWith([completed("r1", "2025-12-01T00:00:00.000Z"), completed("r2", "2026-03-11T00:00:00.000Z")]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K, policyId: "p" }], policies: [{ policyId: "p", interval: "P90D" }] });
    expect(pack.compliance[0]).toMatchObject({ status: "compliant", lateInPeriod: [{ rotationId: "r2", dueAt: "2026-03-01T00:00:00.000Z", daysLate: 10 }] });
  });

  it("judges cron-style policies through their dueAfter function", async () => {
    const ledger = await ledgerWith([completed("r1", "2026-01-10T00:00:00.000Z")]);
    const firstOfNextMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K, policyId: "p" }], policies: [{ policyId: "p", dueAfter: firstOfNextMonth }] });
    expect(pack.compliance[0]).toMatchObject({ status: "overdue", dueAt: "2026-02-01T00:00:00.000Z", daysOverdue: 59 });
  });

  it("cannot judge a key that was never rotated and has no start date", async () => {
    const pack = await buildEvidencePack({ ledger: await ledgerWith([]), period: Q1, now: AFTER_Q1, keys: [{ keyId: K, policyId: "p" }], policies: [{ policyId: "p", interval: "P1Y" }] });
    expect(pack.compliance[0]).toMatchObject({ status: "noBaseline" });
  });

  it("flags an emergency rotation approved by its own requester, and one completed without approval", async () => {
    const ledger = await ledgerWith([
      { type: "EmergencyRequested", rotationId: "r1", trigger: "emergency", actor: "carol", at: "2026-02-01T00:00:00.000Z" },
      { type: "Approved", rotationId: "r1", actor: "carol", at: "2026-02-01T00:01:00.000Z" },
      { type: "EmergencyRequested", rotationId: "r2", trigger: "emergency", actor: "dave", at: "2026-02-02T00:00:00.000Z" },
      completed("r2", "2026-02-02T00:05:00.000Z"),
    ]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] });
    expect(pack.emergencies.map((e) => [e.rotationId, e.exceptions])).toEqual([["r1", ["selfApproved"]], ["r2", ["notApproved"]]]);
  });

  it("a failed rotation retried to completion under the same rotationId counts as recovered", async () => {
    const ledger = await ledgerWith([
      { type: "Failed", rotationId: "r1", actor: "system:orchestrator", error: { code: "Throttled", message: "429" }, at: "2026-02-01T00:00:00.000Z" },
      completed("r1", "2026-02-01T00:10:00.000Z"),
    ]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] });
    expect(pack.failures).toEqual([expect.objectContaining({ resolution: "recoveredOnRetry", resolvedBy: { rotationId: "r1", at: "2026-02-01T00:10:00.000Z" } })]);
  });

  it("refuses a period whose end is not after its start", async () => {
    await expect(buildEvidencePack({ ledger: await ledgerWith([]), period: { from: Q1.to, to: Q1.from }, keys: [], policies: [] })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it("neutralises spreadsheet formulas and quotes separators in CSV cells", async () => {
    const ledger = await ledgerWith([{ type: "RotationRequested", rotationId: "r1", trigger: "manual", actor: "eve", reason: '=HYPERLINK("x"), "quoted"', at: "2026-02-01T00:00:00.000Z" }]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] });
    expect(evidenceCsv(pack).rotations).toContain(`"'=HYPERLINK(""x""), ""quoted"""`);
  });

  it("says loudly in the summary when the ledger does not verify", async () => {
    const ledger = memoryLedger({ signer: ephemeralSealSigner() });
    await writeQuarter(ledger);
    const pack = await buildEvidencePack({ ledger, period: Q1, policies, keys, now: AFTER_Q1 });
    const broken = { ...pack, verification: { ...pack.verification, ok: false, firstBreak: { keyId: K, seq: 3, problem: "gap" as const } } };
    expect(evidenceMarkdown(broken)).toContain("**VERIFICATION FAILED**: first break at kek:vault-a/k #3: gap");
  });

  it("maps complianceTags to frameworks however they are written", () => {
    expect(["PCI-DSS", "pci", "SOC 2", "soc2", "HIPAA", "NIST SP 800-57", "ISO27001"].map(frameworkOf)).toEqual(["PCI DSS", "PCI DSS", "SOC 2", "SOC 2", "HIPAA", "NIST SP 800-57", undefined]);
  });
});
