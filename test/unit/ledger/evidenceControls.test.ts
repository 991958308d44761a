import { describe, expect, it } from "vitest";
import { ephemeralSealSigner, memoryLedger, type HashChainLedger } from "../../../lib/ledger";
import type { LedgerAppend } from "../../../lib/ports";
import { buildEvidencePack, evidenceCsv, evidenceMarkdown } from "../../../lib/ledger/evidence";
import { parseTag } from "../../../lib/ledger/controls";
import { AFTER_Q1, Q1 } from "./evidenceScenario";

const K = "signing:vault-a/tokens";
type Step = Omit<LedgerAppend, "keyId" | "entryId">;
const ledgerWith = async (entries: Step[]): Promise<HashChainLedger> => {
  const ledger = memoryLedger({ signer: ephemeralSealSigner() });
  for (const [i, e] of entries.entries()) await ledger.append({ keyId: K, entryId: `e${i}`, ...e });
  return ledger;
};
const rotated = (rotationId: string, at: string, before: string, after: string): Step[] => [
  { type: "RotationRequested", rotationId, trigger: "schedule", actor: "system:timer", at },
  { type: "Promoted", rotationId, actor: "system:orchestrator", versionBefore: before, versionAfter: after, at },
  { type: "Completed", rotationId, actor: "system:orchestrator", versionBefore: before, versionAfter: after, at },
];
// What the rollback workflow writes: the request (with rollbackOf), RolledBack, then Completed.
const rolledBack = (rotationId: string, of: string, at: string, from: string, to: string): Step[] => [
  { type: "RotationRequested", rotationId, trigger: "manual", actor: "alice", reason: "bad release", at, details: { actorId: "oid-alice", rollbackOf: of, versionBefore: from, versionAfter: to } },
  { type: "RolledBack", rotationId, actor: "system:orchestrator", versionBefore: from, versionAfter: to, at },
  { type: "Completed", rotationId, actor: "system:orchestrator", versionBefore: from, versionAfter: to, at },
];
const quarterly = (tags: string[]) => ({ keys: [{ keyId: K, policyId: "p", createdAt: "2025-06-01T00:00:00.000Z" }], policies: [{ policyId: "p", interval: "P90D", complianceTags: tags }] });

describe("evidence controls: complianceTags however written", () => {
  it.each([
    ["PCI-DSS-3.6.4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["pci dss 3.6.4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["PCI_DSS_3_6_4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["pcidss:3.6.4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["PCI DSS v4.0 3.7.4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["PCI-3.7.4", "PCI DSS", "3.6.4 (v4.0: 3.7.4)"],
    ["PCI-DSS", "PCI DSS", undefined],
    ["SOC2-CC6.1", "SOC 2", "CC6.1"],
    ["soc 2 cc6.1", "SOC 2", "CC6.1"],
    ["SOC2:CC6.6", "SOC 2", "CC6.6"],
    ["soc2_cc7_2", "SOC 2", "CC7.2"],
    ["SOC 2", "SOC 2", undefined],
    ["HIPAA-164.312(a)(2)(iv)", "HIPAA", "164.312(a)(2)(iv)"],
    ["hipaa §164.312(a)(2)(iv)", "HIPAA", "164.312(a)(2)(iv)"],
    ["HIPAA", "HIPAA", undefined],
    ["NIST SP 800-57", "NIST SP 800-57", undefined],
    ["nist-800-57", "NIST SP 800-57", undefined],
    ["ISO27001", undefined, undefined],
    ["SOC2-CC9.9", undefined, undefined],
  ])("%s maps to %s %s", (tag, framework, control) => {
    const parsed = parseTag(tag);
    expect(parsed?.framework).toBe(framework);
    expect(parsed?.control).toBe(control);
  });

  it("brings the seeds' control-level tags into the Controls section instead of saying none maps", async () => {
    const ledger = await ledgerWith(rotated("r1", "2026-02-01T00:00:00.000Z", "v1", "v2"));
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K, policyId: "p", createdAt: "2025-12-01T00:00:00.000Z" }],
      policies: [{ policyId: "p", interval: "P90D", complianceTags: ["PCI-DSS-3.6.4", "SOC2-CC6.1"] }] });
    expect(pack.controls.map((c) => [c.framework, c.control])).toEqual(expect.arrayContaining([["PCI DSS", "3.6.4 (v4.0: 3.7.4)"], ["SOC 2", "CC6.1"], ["SOC 2", "CC6.6"]]));
    expect(evidenceMarkdown(pack)).not.toContain("No policy in scope carries a complianceTag");
  });

  it("lists a tag that maps to no control as unknown, with its policy, instead of dropping it", async () => {
    const pack = await buildEvidencePack({ ledger: await ledgerWith([]), period: Q1, now: AFTER_Q1, ...quarterly(["ISO27001-A.10.1.2", "SOC2-CC6.1"]) });
    expect(pack.unknownTags).toEqual([{ tag: "ISO27001-A.10.1.2", policyIds: ["p"] }]);
    expect(evidenceMarkdown(pack)).toContain("- `ISO27001-A.10.1.2` (policies: p)");
  });

  it("makes a SOC 2-tagged key rotated 66 days late a control exception and a late rotation in the summary", async () => {
    // Due 90 days after 2025-10-26 = 2026-01-24; rotated 2026-03-31: 66 days late.
    const ledger = await ledgerWith([...rotated("r0", "2025-10-26T00:00:00.000Z", "v0", "v1"), ...rotated("r1", "2026-03-31T00:00:00.000Z", "v1", "v2")]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, ...quarterly(["SOC2-CC6.1"]) });
    expect(pack.exceptions).toEqual([expect.objectContaining({ keyId: K, kind: "late", rotationId: "r1", days: 66 })]);
    const cc66 = pack.controls.find((c) => c.control === "CC6.6");
    expect(cc66).toMatchObject({ status: "exceptions", exceptions: [`${K} rotated 66 day(s) late (r1)`] });
    expect(pack.summary).toMatchObject({ compliant: 0, cryptoperiodExceptions: 1 });
    expect(evidenceMarkdown(pack)).toMatch(/\| signing:vault-a\/tokens \| p \| LATE rotation \| 2026-01-24T00:00:00.000Z \| r1 \|/);
  });

  it("makes a key that was due in the period and never rotated a missed rotation", async () => {
    const ledger = await ledgerWith(rotated("r0", "2025-11-01T00:00:00.000Z", "v0", "v1"));
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, ...quarterly(["pci dss 3.6.4"]) });
    expect(pack.exceptions).toEqual([{ keyId: K, policyId: "p", kind: "missed", dueAt: "2026-01-30T00:00:00.000Z", days: 61 }]);
    expect(pack.controls.find((c) => c.framework === "PCI DSS")).toMatchObject({ status: "exceptions" });
    expect(evidenceMarkdown(pack)).toContain("MISSED rotation (not rotated)");
  });
});

describe("evidence: a rollback restarts no cryptoperiod", () => {
  it("keeps last rotated at the re-promoted version's own rotation, so the overdue key stays overdue", async () => {
    // v1 promoted 2025-11-01 (due 2026-01-30); v2 promoted 2026-03-01 and rolled back the next day.
    const ledger = await ledgerWith([
      ...rotated("r1", "2025-11-01T00:00:00.000Z", "v0", "v1"),
      ...rotated("r2", "2026-03-01T00:00:00.000Z", "v1", "v2"),
      ...rolledBack(`${K}@rollback:r2`, "r2", "2026-03-02T00:00:00.000Z", "v2", "v1"),
    ]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, ...quarterly(["SOC2"]) });
    expect(pack.compliance[0]).toMatchObject({ status: "overdue", lastRotatedAt: "2025-11-01T00:00:00.000Z", lastRotationId: "r1", dueAt: "2026-01-30T00:00:00.000Z" });
    expect(pack.exceptions.map((x) => x.kind)).toEqual(["late", "missed"]);
  });

  it("shows the rollback as a rollback and the rotation it undid as rolled back", async () => {
    const ledger = await ledgerWith([...rotated("r2", "2026-03-01T00:00:00.000Z", "v1", "v2"), ...rolledBack("rb", "r2", "2026-03-02T00:00:00.000Z", "v2", "v1")]);
    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, ...quarterly([]) });
    expect(pack.rotations.map((r) => [r.rotationId, r.kind, r.outcome, r.rollbackOf ?? r.rolledBackBy])).toEqual([["r2", "rotation", "completed", "rb"], ["rb", "rollback", "rolledBack", "r2"]]);
    expect(pack.summary.rollbacks).toBe(1);
    expect(evidenceMarkdown(pack)).toContain("| ROLLBACK of r2 |");
    expect(evidenceCsv(pack).rotations).toContain(",rollback,r2,\r\n");
  });
});

describe("evidence: self-approval is judged by principal id", () => {
  const emergency = (requester: [string, string], approver: [string, string]): Step[] => [
    { type: "EmergencyRequested", rotationId: "e1", trigger: "emergency", actor: requester[0], at: "2026-02-01T00:00:00.000Z", details: { actorId: requester[1] } },
    { type: "Approved", rotationId: "e1", actor: approver[0], at: "2026-02-01T00:05:00.000Z", details: { actorId: approver[1], requestedBy: requester[0], requestedById: requester[1] } },
  ];
  const packOf = async (steps: Step[]) => buildEvidencePack({ ledger: await ledgerWith(steps), period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] });

  it("two people sharing a display name are not a self-approval", async () => {
    const pack = await packOf(emergency(["Alex Kim", "oid-1"], ["Alex Kim", "oid-2"]));
    expect(pack.emergencies[0]).toMatchObject({ exceptions: [], identity: "principalId" });
  });

  it("one person approving under another display name is a self-approval", async () => {
    const pack = await packOf(emergency(["alex", "oid-1"], ["Alex Kim (admin)", "oid-1"]));
    expect(pack.emergencies[0]).toMatchObject({ exceptions: ["selfApproved"], identity: "principalId" });
  });

  it("falls back to display names for entries without ids, and the summary says so", async () => {
    const pack = await packOf([
      { type: "EmergencyRequested", rotationId: "e1", trigger: "emergency", actor: "carol", at: "2026-02-01T00:00:00.000Z" },
      { type: "Approved", rotationId: "e1", actor: "carol", at: "2026-02-01T00:05:00.000Z" },
    ]);
    expect(pack.emergencies[0]).toMatchObject({ exceptions: ["selfApproved"], identity: "displayName" });
    expect(evidenceMarkdown(pack)).toContain("self-approval was judged by display name only");
  });
});
