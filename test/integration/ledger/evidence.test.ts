import { describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ephemeralSealSigner, tableLedger } from "../../../lib/ledger";
import { sha256Hex } from "../../../lib/ledger/canonical";
import { buildEvidencePack, writeEvidencePack } from "../../../lib/ledger/evidence";
import { freshTable } from "../../support/tables";
import { AFTER_Q1, CONTOSO, FABRIKAM, PAYMENTS, Q1, TOKENS, WEBHOOK, keys, policies, writeQuarter } from "../../unit/ledger/evidenceScenario";

describe("evidence pack for a quarter, from a Table Storage ledger", () => {
  it("lists manual, scheduled, emergency and failed rotations, flags the overdue key, and embeds a passing verification", async () => {
    const ledger = tableLedger({ entries: await freshTable("ledger"), seals: await freshTable("seals"), signer: ephemeralSealSigner() });
    await writeQuarter(ledger);
    const pack = await buildEvidencePack({ ledger, period: Q1, policies, keys, now: AFTER_Q1, retention: "P7Y" });

    expect(pack.rotations.map((r) => [r.keyId, r.trigger, r.requestedBy, r.approvals.map((a) => a.by).join(), r.outcome])).toEqual([
      [PAYMENTS, "schedule", "system:timer", "", "completed"],
      [WEBHOOK, "manual", "alice", "", "completed"],
      [CONTOSO, "schedule", "system:timer", "", "failed"],
      [CONTOSO, "manual", "bob", "", "completed"],
      [WEBHOOK, "schedule", "system:timer", "", "failed"],
      [TOKENS, "emergency", "carol", "dave", "completed"],
      [FABRIKAM, "manual", "erin", "", "completed"],
    ]);
    const manual = pack.rotations.find((r) => r.rotationId === `${WEBHOOK}@manual:r1`)!;
    expect(manual).toMatchObject({ requestedAt: "2026-02-01T09:00:00.000Z", endedAt: "2026-02-01T09:01:00.000Z", reason: "partner offboarding", versionBefore: "w1", versionAfter: "w2" });

    expect(pack.emergencies).toEqual([expect.objectContaining({
      keyId: TOKENS, requestedBy: "carol", approvals: [{ by: "dave", at: "2026-03-10T10:20:00.000Z" }], minutesToApproval: 20,
      revokedVersions: ["s1"], outcome: "completed", exceptions: [], reason: "signing key exposed in a build log",
    })]);

    expect(pack.failures.map((f) => [f.keyId, f.error.code, f.resolution, f.resolvedBy?.rotationId])).toEqual([
      [CONTOSO, "LockHeld", "supersededByLaterRotation", `${CONTOSO}@manual:r7`],
      [WEBHOOK, "Throttled", "unresolved", undefined],
    ]);

    const byKey = Object.fromEntries(pack.compliance.map((c) => [c.keyId, c]));
    expect(byKey[WEBHOOK]).toMatchObject({ status: "overdue", dueAt: "2026-03-03T09:01:00.000Z", daysOverdue: 29, lastRotationId: `${WEBHOOK}@manual:r1` });
    expect(byKey[PAYMENTS]).toMatchObject({ status: "compliant", daysOverdue: 0, lastRotatedAt: "2026-01-15T02:30:00.000Z", lateInPeriod: [] });
    expect(byKey[CONTOSO]).toMatchObject({ status: "compliant" });
    expect(byKey[TOKENS]).toMatchObject({ status: "compliant" });
    expect(byKey[FABRIKAM]).toMatchObject({ status: "noPolicy" });
    expect(pack.keysWithoutPolicy).toEqual([FABRIKAM]);
    expect(pack.keysNotInInventory).toEqual([]);
    expect(pack.summary).toMatchObject({ keys: 5, keysWithPolicy: 4, compliant: 3, overdue: 1, rotations: 7, emergencies: 1, failures: 2, unresolvedFailures: 1,
      byTrigger: { schedule: 3, manual: 3, emergency: 1 } });

    expect(pack.verification).toMatchObject({ ok: true, chains: 5, seals: 2 });
    expect(pack.seals.map((s) => s.reason)).toEqual(["end of rotation", "periodic"]);

    const controls = Object.fromEntries(pack.controls.map((c) => [`${c.framework} ${c.control}`, c]));
    expect(controls["PCI DSS 3.6.4 (v4.0: 3.7.4)"]).toMatchObject({ status: "met", keys: 2, tags: ["PCI-DSS"] });
    expect(controls["HIPAA 164.312(a)(2)(iv)"]).toMatchObject({ status: "exceptions", exceptions: [`${WEBHOOK} is 29 day(s) overdue`] });
    expect(controls["NIST SP 800-57 Part 1 Rev. 5 §5.3 cryptoperiods"]).toMatchObject({ status: "met", keys: 1 });
    expect(Object.keys(controls).filter((k) => k.startsWith("SOC 2"))).toEqual(["SOC 2 CC6.1", "SOC 2 CC6.6", "SOC 2 CC6.7", "SOC 2 CC7.2"]);

    const dir = await mkdtemp(path.join(tmpdir(), "keyrotor-evidence-"));
    try {
      const { manifest } = await writeEvidencePack(dir, pack);
      const json = JSON.parse(await readFile(path.join(dir, "evidence.json"), "utf8"));
      expect(json.verification.ok).toBe(true);
      const rotationsCsv = await readFile(path.join(dir, "rotations.csv"), "utf8");
      expect(rotationsCsv.trimEnd().split("\r\n")).toHaveLength(1 + 7);
      expect(rotationsCsv).toContain(`${TOKENS},${TOKENS}@emergency:r9,emergency,2026-03-10T10:00:00.000Z,carol,dave,`);
      const summary = await readFile(path.join(dir, "summary.md"), "utf8");
      expect(summary).toContain("**Verified intact**");
      expect(summary).toMatch(/\| secret:vault-a\/webhook \| monthly-phi \| HIPAA \| \*\*OVERDUE\*\* \|/);
      expect(sha256Hex(await readFile(path.join(dir, "compliance.csv")))).toBe(manifest["compliance.csv"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
