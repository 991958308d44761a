import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { responderGuidance, type GuidanceInput } from "../../../lib/domain/guidance";
import { KEY_KINDS, ROTATION_PHASES } from "../../../lib/domain/keys";
import { ROTATION_EVENT_TYPES } from "../../../lib/ports";

const base = { keyId: "kek:demo-vault/tenant-kek", kind: "kek" as const, rotationId: "kek:demo-vault/tenant-kek@2026-04-01T00:00:00Z" };

describe("responderGuidance", () => {
  it("names the key and the rotation in the recommended action of every event type, kind and phase", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ROTATION_EVENT_TYPES), fc.constantFrom(...KEY_KINDS), fc.option(fc.constantFrom(...ROTATION_PHASES), { nil: undefined }), (type, kind, phase) => {
        const keyId = kind === "dek" ? "dek:contoso" : `${kind}:demo-vault/k1`;
        const { guidance, severity } = responderGuidance({ type, kind, keyId, rotationId: `${keyId}@r1`, ...(phase ? { phase } : {}) });
        expect(guidance.recommendedAction).toContain(keyId);
        expect(["info", "warning", "critical"]).toContain(severity);
        if (!["ExpiryWarning", "CertificateExpiring", "UnmanagedVersionDetected"].includes(type)) expect(guidance.recommendedAction).toContain(`${keyId}@r1`);
      }),
    );
  });

  it("RotationFailed during rewrapping: encryption unaffected, decryption valid, retry safe, text names phase and rotation", () => {
    const { guidance, severity } = responderGuidance({ ...base, type: "RotationFailed", phase: "rewrapping", error: { code: "Throttled", family: "dependencyUnavailable" } });
    expect(severity).toBe("critical");
    expect(guidance).toMatchObject({ encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: true });
    expect(guidance.recommendedAction).toContain("rewrapping");
    expect(guidance.recommendedAction).toContain(base.rotationId);
    expect(guidance.recommendedAction).toMatch(/Retry after checking that the dependency is available again \(Throttled\)/);
    expect(guidance.recommendedAction).toMatch(/Do not disable the previous version/);
  });

  it("RotationFailed before anything changed says the key works as before", () => {
    const { guidance } = responderGuidance({ ...base, type: "RotationFailed", phase: "locked" });
    expect(guidance.manualInterventionSafe).toBe(true);
    expect(guidance.recommendedAction).toMatch(/before anything changed/);
  });

  it("RotationFailed on an invariant violation forbids retrying", () => {
    const { guidance } = responderGuidance({ ...base, type: "RotationFailed", phase: "rewrapped", error: { code: "CountMismatch", family: "invariantViolation" } });
    expect(guidance.manualInterventionSafe).toBe(false);
    expect(guidance.recommendedAction).toMatch(/^Stop: .*Do not retry/);
  });

  it("RotationFailed in an unknown phase sends the responder to the ledger, not to a retry", () => {
    const { guidance } = responderGuidance({ ...base, type: "RotationFailed" });
    expect(guidance.manualInterventionSafe).toBe(false);
    expect(guidance.recommendedAction).toContain("GET /api/ledger/kek:demo-vault/tenant-kek");
  });

  it("a running rotation is not to be touched by hand", () => {
    for (const type of ["RotationStarted", "VersionCreated", "Promoted", "RewrapProgress", "EmergencyApproved"] as const) {
      expect(responderGuidance({ ...base, type }).guidance.manualInterventionSafe).toBe(false);
    }
  });

  it("Promoted asks secret consumers to reload and JWKS verifiers to refresh", () => {
    expect(responderGuidance({ ...base, type: "Promoted", kind: "secret", keyId: "secret:demo-vault/webhook" }).guidance.customerActionRequired).toBe(true);
    expect(responderGuidance({ ...base, type: "Promoted", kind: "signing", keyId: "signing:demo-vault/jwt" }).guidance.recommendedAction).toMatch(/JWKS/);
    expect(responderGuidance({ ...base, type: "Promoted" }).guidance.customerActionRequired).toBe(false);
  });

  it("Revoked with references left says decryption is no longer valid and customers must act", () => {
    const { guidance } = responderGuidance({ ...base, type: "Revoked", details: { remainingReferences: 12 } });
    expect(guidance).toMatchObject({ decryptionValid: false, customerActionRequired: true, manualInterventionSafe: false });
    expect(guidance.recommendedAction).toContain("12 data key(s)");
    expect(responderGuidance({ ...base, type: "Revoked", details: { remainingReferences: 0 } }).guidance.decryptionValid).toBe(true);
  });

  it("EmergencyRequested names who may not approve and the deadline", () => {
    const input: GuidanceInput = { ...base, type: "EmergencyRequested", details: { requestedBy: "alice", approveBy: "2026-04-01T01:00:00Z" } };
    const { guidance, severity } = responderGuidance(input);
    expect(severity).toBe("critical");
    expect(guidance.recommendedAction).toContain("other than alice");
    expect(guidance.recommendedAction).toContain("before 2026-04-01T01:00:00Z");
    expect(guidance.recommendedAction).toContain(`POST /api/rotations/approve/${base.rotationId}`);
  });

  it("UnmanagedVersionDetected is treated as possibly impacting encryption", () => {
    const { guidance } = responderGuidance({ ...base, type: "UnmanagedVersionDetected", details: { version: "abc123" } });
    expect(guidance).toMatchObject({ encryptionImpacted: true, customerActionRequired: true, manualInterventionSafe: false });
    expect(guidance.recommendedAction).toContain("abc123");
  });

  it("ExpiryWarning gives the remaining days and the way to rotate now", () => {
    const { guidance, severity } = responderGuidance({ ...base, type: "ExpiryWarning", details: { daysLeft: 7, expiresAt: "2026-04-08T00:00:00Z" } });
    expect(severity).toBe("warning");
    expect(guidance.recommendedAction).toContain("in 7 day(s) at 2026-04-08T00:00:00Z");
    expect(guidance.recommendedAction).toContain("POST /api/rotations");
  });
});
