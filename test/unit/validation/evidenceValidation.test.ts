// The evidence pack's Validation section: per rotation, what each gate checked, against which
// version, and the outcome, from the Validation entries the gates write (recordValidation).
import { describe, expect, it } from "vitest";
import { gateVerdict } from "../../../lib/domain/validation";
import { ephemeralSealSigner, memoryLedger } from "../../../lib/ledger";
import { buildEvidencePack, evidenceMarkdown } from "../../../lib/ledger/evidence";
import { recordValidation } from "../../../lib/validation/activity";
import { AFTER_Q1, Q1 } from "../ledger/evidenceScenario";

const K = "kek:vault-a/k";

describe("evidence Validation section", () => {
  it("lists each rotation's gates with the version checked and the outcome, a failed gate marked", async () => {
    const ledger = memoryLedger({ signer: ephemeralSealSigner() });
    const ctx = (rotationId: string, at: string) => ({ rotationId, keyId: K, actor: "alice", at });
    await ledger.append({ keyId: K, entryId: "r1#requested", type: "RotationRequested", rotationId: "r1", actor: "alice", at: "2026-02-01T00:00:00.000Z" });
    await recordValidation({ ledger }, ctx("r1", "2026-02-01T00:01:00.000Z"), gateVerdict("kekRoundTrip", "v2", 1, []));
    await recordValidation({ ledger }, ctx("r1", "2026-02-01T00:05:00.000Z"), gateVerdict("kekRewrapSample", "v2", 6, []));
    await ledger.append({ keyId: K, entryId: "r1#completed", type: "Completed", rotationId: "r1", actor: "system:orchestrator", at: "2026-02-01T00:06:00.000Z" });
    await ledger.append({ keyId: K, entryId: "r2#requested", type: "RotationRequested", rotationId: "r2", actor: "alice", at: "2026-03-01T00:00:00.000Z" });
    await recordValidation({ ledger }, ctx("r2", "2026-03-01T00:01:00.000Z"), gateVerdict("kekRoundTrip", "v3", 1, [{ version: "v3", reason: "UnwrapMismatch" }]));
    await ledger.append({ keyId: K, entryId: "r2#failed", type: "Failed", rotationId: "r2", actor: "system:orchestrator", error: { code: "ValidationFailed", message: "v3 failed" }, at: "2026-03-01T00:02:00.000Z" });

    const pack = await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] });
    const r1 = pack.rotations.find((r) => r.rotationId === "r1");
    expect(r1?.validations?.map((v) => [v.gate, v.stage, v.version, v.outcome, v.checked, v.failed])).toEqual([
      ["kekRoundTrip", "beforePromotion", "v2", "passed", 1, 0],
      ["kekRewrapSample", "afterWork", "v2", "passed", 6, 0],
    ]);
    const md = evidenceMarkdown(pack);
    const section = md.slice(md.indexOf("## Validation"), md.indexOf("## Emergency rotations"));
    expect(section).toContain(`### ${K} — r1 (completed)`);
    expect(section).toContain(`### ${K} — r2 (failed)`);
    expect(section).toMatch(/\| 2026-03-01T00:01:00.000Z \| kekRoundTrip \| beforePromotion \| v3 \| .* \| \*\*FAILED\*\* \| 0 of 1 passed \| UnwrapMismatch \|/);
    expect(section).toMatch(/\| kekRewrapSample \| afterWork \| v2 \| .* \| passed \| 6 of 6 passed \|/);
  });

  it("says so when no rotation recorded a validation", async () => {
    const ledger = memoryLedger({ signer: ephemeralSealSigner() });
    await ledger.append({ keyId: K, entryId: "r1#completed", type: "Completed", rotationId: "r1", actor: "system:orchestrator", at: "2026-02-01T00:06:00.000Z" });
    const md = evidenceMarkdown(await buildEvidencePack({ ledger, period: Q1, now: AFTER_Q1, keys: [{ keyId: K }], policies: [] }));
    expect(md).toContain("## Validation\n\nNo rotation in the period recorded a validation.");
  });
});
