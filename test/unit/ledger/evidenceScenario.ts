// A quarter of rotations (2026-Q1) written through the ledger, shared by the memory and Azurite tests.
import type { LedgerAppend } from "../../../lib/ports";
import type { HashChainLedger } from "../../../lib/ledger";
import type { EvidenceKey, EvidencePolicy } from "../../../lib/ledger/evidence";

export const Q1 = { from: "2026-01-01T00:00:00.000Z", to: "2026-04-01T00:00:00.000Z", label: "2026-Q1" };
export const AFTER_Q1 = new Date("2026-04-02T00:00:00.000Z");

export const PAYMENTS = "kek:vault-a/payments-kek";
export const WEBHOOK = "secret:vault-a/webhook";
export const CONTOSO = "dek:contoso";
export const TOKENS = "signing:vault-a/tokens";
export const FABRIKAM = "dek:fabrikam";

export const policies: EvidencePolicy[] = [
  { policyId: "quarterly-pci", interval: "P90D", complianceTags: ["PCI-DSS", "SOC2"] },
  { policyId: "monthly-phi", interval: "P30D", complianceTags: ["HIPAA"] },
  { policyId: "annual", interval: "P1Y", complianceTags: ["NIST"] },
];

export const keys: EvidenceKey[] = [
  { keyId: PAYMENTS, policyId: "quarterly-pci", createdAt: "2025-01-01T00:00:00.000Z" },
  { keyId: WEBHOOK, policyId: "monthly-phi", createdAt: "2026-01-05T00:00:00.000Z" },
  { keyId: CONTOSO, policyId: "quarterly-pci", createdAt: "2025-12-01T00:00:00.000Z" },
  { keyId: TOKENS, policyId: "annual", createdAt: "2025-06-01T00:00:00.000Z" },
  { keyId: FABRIKAM },
];

type Step = Omit<LedgerAppend, "keyId" | "entryId" | "rotationId">;

async function rotation(ledger: HashChainLedger, keyId: string, rotationId: string, steps: Step[]): Promise<void> {
  for (const [i, s] of steps.entries()) await ledger.append({ keyId, rotationId, entryId: `${rotationId}#${i}:${s.type}`, ...s });
}

const scheduled = (at: string, end: string, before: string, after: string): Step[] => [
  { type: "RotationRequested", trigger: "schedule", actor: "system:timer", reason: "policy due", at },
  { type: "VersionCreated", actor: "system:orchestrator", versionBefore: before, versionAfter: after, at },
  { type: "Promoted", actor: "system:orchestrator", versionBefore: before, versionAfter: after, at: end },
  { type: "Completed", actor: "system:orchestrator", versionBefore: before, versionAfter: after, at: end },
];

export async function writeQuarter(ledger: HashChainLedger): Promise<void> {
  // Before the period: sets the baseline for the payments KEK.
  await rotation(ledger, PAYMENTS, `${PAYMENTS}@2025-10-20`, scheduled("2025-10-20T02:00:00.000Z", "2025-10-20T02:10:00.000Z", "p1", "p2"));
  // Scheduled, on time (due 2026-01-18).
  await rotation(ledger, PAYMENTS, `${PAYMENTS}@2026-01-15`, scheduled("2026-01-15T02:00:00.000Z", "2026-01-15T02:30:00.000Z", "p2", "p3"));

  // Manual by alice; then a scheduled one that fails and is never resolved; 30-day policy → overdue.
  await rotation(ledger, WEBHOOK, `${WEBHOOK}@manual:r1`, [
    { type: "RotationRequested", trigger: "manual", actor: "alice", reason: "partner offboarding", at: "2026-02-01T09:00:00.000Z" },
    { type: "VersionCreated", actor: "system:orchestrator", versionBefore: "w1", versionAfter: "w2", at: "2026-02-01T09:00:05.000Z" },
    { type: "Completed", actor: "system:orchestrator", versionBefore: "w1", versionAfter: "w2", at: "2026-02-01T09:01:00.000Z" },
  ]);
  await rotation(ledger, WEBHOOK, `${WEBHOOK}@2026-03-03`, [
    { type: "RotationRequested", trigger: "schedule", actor: "system:timer", reason: "policy due", at: "2026-03-03T02:00:00.000Z" },
    { type: "Failed", actor: "system:orchestrator", error: { code: "Throttled", message: "Key Vault returned 429 five times" }, at: "2026-03-03T02:05:00.000Z" },
  ]);

  // A scheduled rotation fails, and bob's manual rotation the next day completes.
  await rotation(ledger, CONTOSO, `${CONTOSO}@2026-02-10`, [
    { type: "RotationRequested", trigger: "schedule", actor: "system:timer", reason: "policy due", at: "2026-02-10T02:00:00.000Z" },
    { type: "Failed", actor: "system:orchestrator", error: { code: "LockHeld", message: "another rotation holds the key" }, at: "2026-02-10T02:00:30.000Z" },
  ]);
  await rotation(ledger, CONTOSO, `${CONTOSO}@manual:r7`, [
    { type: "RotationRequested", trigger: "manual", actor: "bob", reason: "retry after failed schedule", at: "2026-02-11T08:00:00.000Z" },
    { type: "RewrapCompleted", actor: "system:orchestrator", counts: { rewrapped: 1200, total: 1200 }, at: "2026-02-11T08:20:00.000Z" },
    { type: "Completed", actor: "system:orchestrator", versionBefore: "v3", versionAfter: "v4", at: "2026-02-11T08:21:00.000Z" },
  ]);

  // Emergency: carol asks, dave approves 20 minutes later, the old version is revoked.
  await rotation(ledger, TOKENS, `${TOKENS}@emergency:r9`, [
    { type: "EmergencyRequested", trigger: "emergency", actor: "carol", reason: "signing key exposed in a build log", at: "2026-03-10T10:00:00.000Z" },
    { type: "Approved", actor: "dave", at: "2026-03-10T10:20:00.000Z" },
    { type: "VersionCreated", actor: "system:orchestrator", versionBefore: "s1", versionAfter: "s2", at: "2026-03-10T10:21:00.000Z" },
    { type: "Revoked", actor: "system:orchestrator", versionBefore: "s1", at: "2026-03-10T10:25:00.000Z" },
    { type: "Completed", actor: "system:orchestrator", versionBefore: "s1", versionAfter: "s2", at: "2026-03-10T10:26:00.000Z" },
  ]);
  await ledger.seal({ reason: "end of rotation", rotationId: `${TOKENS}@emergency:r9`, at: "2026-03-10T10:27:00.000Z" });

  // No policy; rotated by hand. And one rotation after the period, which the pack must not list.
  await rotation(ledger, FABRIKAM, `${FABRIKAM}@manual:r2`, [
    { type: "RotationRequested", trigger: "manual", actor: "erin", at: "2026-03-20T12:00:00.000Z" },
    { type: "Completed", actor: "system:orchestrator", at: "2026-03-20T12:03:00.000Z" },
  ]);
  await rotation(ledger, PAYMENTS, `${PAYMENTS}@manual:late`, [
    { type: "RotationRequested", trigger: "manual", actor: "alice", at: "2026-04-01T12:00:00.000Z" },
  ]);
  await ledger.seal({ reason: "periodic", at: "2026-03-31T23:00:00.000Z" });
}
