// What a responder should know for each rotation event (invariant 4). lib/domain may grow a richer
// table; this one covers every event the rotation engine publishes.
import type { KeyKind } from "../domain/keys";
import type { ResponderGuidance, RotationEventType, Severity } from "../ports";

export function guidanceFor(type: RotationEventType, kind: KeyKind): { guidance: ResponderGuidance; severity: Severity } {
  const ok = (recommendedAction: string, severity: Severity = "info"): { guidance: ResponderGuidance; severity: Severity } => ({
    severity,
    guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: true, recommendedAction },
  });
  switch (type) {
    case "RotationStarted": return ok("none; a rotation is running and holds the key's lock");
    case "VersionCreated": return ok("none; the new version is not in use yet");
    case "Promoted":
      return ok(kind === "signing"
        ? "verifiers must refresh the JWKS; the previous key still verifies"
        : "none; new data uses the new version, existing data stays readable");
    case "RewrapProgress": return ok("none; re-wrapping data keys under the new version");
    case "RotationCompleted": return ok("none");
    case "RolledBack": return ok("check why the rotation was rolled back; the newer version stays enabled", "warning");
    case "Retired": return ok("none; the version had no references left and is disabled");
    case "Revoked":
      return { severity: "critical", guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: kind === "secret" || kind === "signing", manualInterventionSafe: true, recommendedAction: "the compromised version is disabled; consumers still using it must switch to the current version" } };
    case "LockBroken": return ok("a previous rotation died holding the lock; check its Failed or missing Completed entry", "warning");
    case "RotationFailed":
      return { severity: "critical", guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: true, recommendedAction: "read the Failed ledger entry: it names the phase and what is safe to do next" } };
    default: return ok("see the ledger");
  }
}
