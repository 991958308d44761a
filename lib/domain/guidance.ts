// What a responder should do about each rotation event (every phase is observable and says what to do): is encryption impacted, is
// decryption still valid, must customers act, is it safe for a human to step in — and one sentence
// that names the key, the rotation, the phase and the next step. Pure: the facts come in, nothing
// is looked up. "Rotation failed" alone is never an answer.
import type { ErrorFamily } from "./errors";
import type { KeyKind, RotationPhase } from "./keys";
import type { ResponderGuidance, RotationEventType, Severity } from "../ports";

export interface GuidanceInput {
  type: RotationEventType;
  keyId: string;
  kind: KeyKind;
  rotationId?: string;
  /** Where the rotation stood when the event happened (for RotationFailed: the phase that failed). */
  phase?: RotationPhase;
  /** For RotationFailed: what went wrong (family from errors.ts, e.g. via familyTag). */
  error?: { code: string; family?: ErrorFamily };
  /** Facts some events need: remainingReferences (Revoked), expiresAt / daysLeft (ExpiryWarning,
   * CertificateExpiring), version (UnmanagedVersionDetected), requestedBy / approveBy
   * (EmergencyRequested), brokenBy (LockBroken). */
  details?: Record<string, string | number | boolean>;
}

export interface GuidanceResult {
  guidance: ResponderGuidance;
  severity: Severity;
}

/** The guidance and severity for one event. */
export function responderGuidance(input: GuidanceInput): GuidanceResult {
  const rot = input.rotationId ? `rotation ${input.rotationId}` : "the rotation";
  const key = input.keyId;
  const d = input.details ?? {};
  const fine = (recommendedAction: string, severity: Severity = "info", overrides: Partial<ResponderGuidance> = {}): GuidanceResult => ({
    severity,
    guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: true, recommendedAction, ...overrides },
  });
  // While a rotation holds the key's lock, changing the key by hand races the orchestration.
  const running = { manualInterventionSafe: false };

  switch (input.type) {
    case "RotationStarted":
      return fine(`No action needed: ${rot} of ${key} has started; do not change ${key} in Key Vault until it completes.`, "info", running);
    case "VersionCreated":
      return fine(`No action needed: ${rot} created a new version of ${key}; it is not used for encryption until promoted. Do not disable or delete versions while the rotation runs.`, "info", running);
    case "Promoted":
      return promoted(input, rot);
    case "RewrapProgress":
      return fine(`No action needed: ${rot} is re-wrapping data keys of ${key} under the new version${progress(d)}; the previous version stays enabled until no data key references it.`, "info", running);
    case "RotationCompleted":
      return fine(`No action needed: ${rot} of ${key} completed; the previous version stays enabled for decryption until it is retired after the overlap period.`);
    case "RotationFailed":
      return failed(input, rot);
    case "Retired":
      return fine(`No action needed: a version of ${key} had no references left and was disabled (kept, not deleted) after ${rot}.`);
    case "Revoked":
      return revoked(input, rot);
    case "RolledBack":
      return fine(`Investigate why ${rot} of ${key} was rolled back (see the ledger for ${key}); the previous version is primary again and every version stays enabled, so encryption and decryption work. Retry the rotation once the cause is fixed.`, "warning");
    case "ExpiryWarning":
      return fine(
        `${key} expires${when(d)}. If no scheduled rotation runs before then, rotate it now (POST /api/rotations with mode "normal"); after expiry new encryption with it fails.`,
        "warning",
      );
    case "EmergencyRequested":
      return fine(
        `An Approver other than ${typeof d["requestedBy"] === "string" ? d["requestedBy"] : "the requester"} must approve ${rot} of ${key} (POST /api/rotations/approve/${input.rotationId ?? "<rotationId>"})${typeof d["approveBy"] === "string" ? ` before ${d["approveBy"]}` : " within the approval window"}; until then nothing changes.`,
        "critical",
        { customerActionRequired: true },
      );
    case "EmergencyApproved":
      return fine(`No action needed yet: emergency ${rot} of ${key} was approved and is starting; the suspect version is disabled only after its data keys are re-wrapped. Do not change ${key} in Key Vault meanwhile.`, "critical", running);
    case "LockBroken":
      return fine(
        `The lock on ${key} was broken${typeof d["brokenBy"] === "string" ? ` by ${d["brokenBy"]}` : ""}. Before starting another rotation, confirm ${rot} is no longer running (GET /api/rotations/${input.rotationId ?? "<rotationId>"}) and check the ledger for ${key}.`,
        "warning",
        { manualInterventionSafe: false },
      );
    case "UnmanagedVersionDetected":
      return fine(
        `A version of ${key}${typeof d["version"] === "string" ? ` (${d["version"]})` : ""} was created outside keyrotor, and Key Vault may already serve it as current. Confirm who created it; if nobody expected it, report a compromise (POST /api/events/compromise). Do not disable versions by hand: data may be wrapped under them.`,
        "critical",
        { encryptionImpacted: true, customerActionRequired: true, manualInterventionSafe: false },
      );
    case "CertificateExpiring":
      return fine(
        `Certificate ${key} expires${when(d)}. Certificates renew through Key Vault's issuer policy, not keyrotor: check that auto-renewal is configured and the issuer is reachable, or renew it by hand.`,
        "warning",
        { customerActionRequired: true },
      );
  }
}

function promoted(input: GuidanceInput, rot: string): GuidanceResult {
  const key = input.keyId;
  const base = { encryptionImpacted: false, decryptionValid: true, manualInterventionSafe: false };
  switch (input.kind) {
    case "secret":
      return {
        severity: "warning",
        guidance: { ...base, customerActionRequired: true, recommendedAction: `Consumers of ${key} must reload the secret: ${rot} made a new value current; the previous value keeps working only until the overlap period ends.` },
      };
    case "signing":
      return {
        severity: "info",
        guidance: { ...base, customerActionRequired: false, recommendedAction: `Verifiers that cache keys should refresh the JWKS of ${key}: ${rot} signs with a new version; the previous one stays in the JWKS and still verifies.` },
      };
    default:
      return {
        severity: "info",
        guidance: { ...base, customerActionRequired: false, recommendedAction: `No action needed: ${rot} made a new version of ${key} primary; new data keys are wrapped under it and existing ones stay readable while re-wrapping proceeds.` },
      };
  }
}

function failed(input: GuidanceInput, rot: string): GuidanceResult {
  const key = input.keyId;
  const phase = input.phase ?? "an unknown phase";
  const why = input.error ? ` (${input.error.code})` : "";
  const retry = `POST /api/rotations {"keyId":"${key}","mode":"normal"}`;
  const g = (recommendedAction: string, o: Partial<ResponderGuidance> = {}): GuidanceResult => ({
    severity: "critical",
    guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: true, recommendedAction, ...o },
  });
  if (input.error?.code === "ValidationFailed") {
    // A gate found that the new version does not work: nothing was disabled, and before promotion
    // nothing uses it; after the work the previous versions still serve (lib/domain/validation.ts).
    const beforePromotion = input.phase === "versionCreated" || input.phase === "locked" || input.phase === "requested";
    return g(
      beforePromotion
        ? `${rot} of ${key} stopped during ${phase}: the new version failed validation (see its Validation entry in GET /api/ledger/${key}), so it was never made primary and nothing was disabled; ${key} works as before. Check the new version in Key Vault (enabled, key operations, access) and retry (${retry}); do not disable or delete any version.`
        : `${rot} of ${key} stopped during ${phase}: the new version failed validation after the work (see its Validation entry in GET /api/ledger/${key}); nothing was disabled, so data under the previous versions stays decryptable. New encryption uses the new version: escalate to the key owner and do not disable any version until the new one validates.`,
      { encryptionImpacted: !beforePromotion, manualInterventionSafe: false },
    );
  }
  if (input.error?.family === "invariantViolation") {
    return g(
      `Stop: ${rot} of ${key} failed during ${phase} because an invariant was violated${why}. Do not retry and do not change ${key} in Key Vault; verify the ledger (GET /api/ledger/verify) and escalate to the key owner.`,
      { manualInterventionSafe: false },
    );
  }
  const check = checkFor(input.error);
  switch (input.phase) {
    case "requested":
    case "approved":
    case "locked":
      return g(`${rot} of ${key} failed during ${phase}${why} before anything changed in Key Vault: ${key} works as before. Retry after checking ${check} (${retry}).`);
    case "versionCreated":
      return g(`${rot} of ${key} failed during ${phase}${why}: a new version exists but is not primary, so encryption and decryption are unaffected. Retry after checking ${check}; the retry reuses that version (${retry}).`);
    case "promoted":
    case "rewrapping":
      return g(
        `${rot} of ${key} failed during ${phase}${why}: the new version is primary and some data keys are still wrapped under the previous one, which stays enabled, so everything remains decryptable. Retry after checking ${check}; re-wrapping resumes where it stopped (${retry}). Do not disable the previous version.`,
      );
    case "rewrapped":
      return g(`${rot} of ${key} failed during ${phase}${why} after every data key was re-wrapped: nothing is impacted. Retry after checking ${check} to finish the rotation (${retry}).`);
    default:
      return g(
        `${rot} of ${key} failed during ${phase}${why}. Read the ledger for ${key} (GET /api/ledger/${key}) to see the last completed step before acting; do not disable any version of ${key} until it shows that no data key references it.`,
        { manualInterventionSafe: false },
      );
  }
}

function revoked(input: GuidanceInput, rot: string): GuidanceResult {
  const key = input.keyId;
  const remaining = input.details?.["remainingReferences"];
  if (typeof remaining === "number" && remaining > 0) {
    return {
      severity: "critical",
      guidance: {
        encryptionImpacted: false,
        decryptionValid: false,
        customerActionRequired: true,
        manualInterventionSafe: false,
        recommendedAction: `A compromised version of ${key} was disabled by ${rot} with ${remaining} data key(s) still wrapped under it (second approval given): data under those keys cannot be decrypted until the version is re-enabled by the key owner. Tell affected tenants; do not delete the version.`,
      },
    };
  }
  return {
    severity: "critical",
    guidance: {
      encryptionImpacted: false,
      decryptionValid: true,
      customerActionRequired: input.kind === "secret" || input.kind === "signing",
      manualInterventionSafe: true,
      recommendedAction:
        input.kind === "secret"
          ? `The compromised value of ${key} was revoked by ${rot}: consumers still using it fail now and must reload the secret.`
          : input.kind === "signing"
            ? `The compromised version of ${key} was revoked by ${rot} and removed from the JWKS: tokens it signed no longer verify; issuers must re-sign.`
            : `The compromised version of ${key} was disabled by ${rot} after all data keys were re-wrapped: no data depends on it. Review how it was exposed.`,
    },
  };
}

function checkFor(error: GuidanceInput["error"]): string {
  if (!error) return "the orchestration's error in the ledger";
  if (error.family === "dependencyUnavailable") return `that the dependency is available again (${error.code})`;
  if (error.family === "conflict") return `that no other rotation holds the key's lock (${error.code})`;
  if (error.family === "invalidRequest") return `the key's policy and inventory entry (${error.code})`;
  return `the error ${error.code} in the ledger`;
}

function progress(d: Record<string, string | number | boolean>): string {
  const done = d["rewrapped"];
  const total = d["total"];
  return typeof done === "number" && typeof total === "number" ? ` (${done} of ${total})` : "";
}

function when(d: Record<string, string | number | boolean>): string {
  const at = typeof d["expiresAt"] === "string" ? ` at ${d["expiresAt"]}` : "";
  const days = typeof d["daysLeft"] === "number" ? ` in ${d["daysLeft"]} day(s)` : "";
  return `${days}${at}`;
}
