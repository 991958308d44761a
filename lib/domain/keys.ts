// Managed keys and their versions: keyrotor's vocabulary (managed key, kind, version state,
// rotation trigger, mode and phase) as types.
import { InvalidRequestError, RotationConflictError } from "./errors";

export const KEY_KINDS = ["kek", "dek", "signing", "secret"] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** primary: new wraps/encrypts/signs use it. secondary: decrypt/unwrap/verify only (dual-running).
 * retired: no references left; disabled in the vault. revoked: compromised; disabled at once. */
export const VERSION_STATES = ["primary", "secondary", "retired", "revoked"] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export interface KeyVersion {
  /** Key Vault version id (32 hex), or for DEKs a keyrotor-assigned version ("v1", "v2", ...). */
  version: string;
  state: VersionState;
  /** ISO-8601 instants. */
  createdAt: string;
  expiresAt?: string;
  /** The rotation that created this version. */
  rotationId?: string;
  /** When this version last stopped being primary (set by promoting another version, cleared when
   * it is promoted again): retirement's overlap and retainFor count from here. */
  demotedAt?: string;
}

export interface ManagedKey {
  /** `<kind>:<scope>/<name>`, e.g. kek:demo-vault/tenant-kek, dek:contoso, secret:demo-vault/webhook. */
  keyId: string;
  kind: KeyKind;
  tenant: string;
  policyId?: string;
  primaryVersion?: string;
  versions: KeyVersion[];
  lastRotatedAt?: string;
  lastRotationId?: string;
}

export interface ParsedKeyId {
  kind: KeyKind;
  /** Vault name for kek/signing/secret; absent for dek. */
  vault?: string;
  /** Key or secret name in the vault; the tenant for dek. */
  name: string;
}

const NAME = /^[A-Za-z0-9-]{1,127}$/;
const VAULT = /^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/;

/** Parses and validates a keyId; throws InvalidRequestError naming `field`. The parts come back
 * canonical: Key Vault vault and object names are case-insensitive (one object, however it is
 * spelled), so they are lower-cased, as is the kind; a DEK's tenant is keyrotor's own id and kept. */
export function parseKeyId(keyId: string, field = "keyId"): ParsedKeyId {
  const m = /^(kek|dek|signing|secret):(.+)$/i.exec(keyId);
  if (!m) throw new InvalidRequestError("KeyIdInvalid", `keyId must look like <kek|dek|signing|secret>:<scope>/<name>, got "${keyId}"`, { field });
  const kind = (m[1] ?? "").toLowerCase() as KeyKind;
  const rest = m[2] ?? "";
  if (kind === "dek") {
    if (!NAME.test(rest)) throw new InvalidRequestError("KeyIdInvalid", `dek keyId must be dek:<tenant>, got "${keyId}"`, { field });
    return { kind, name: rest };
  }
  const [vault, name, ...extra] = rest.split("/");
  if (!vault || !name || extra.length > 0 || !VAULT.test(vault) || !NAME.test(name)) {
    throw new InvalidRequestError("KeyIdInvalid", `${kind} keyId must be ${kind}:<vault>/<name>, got "${keyId}"`, { field });
  }
  return { kind, vault: vault.toLowerCase(), name: name.toLowerCase() };
}

export function formatKeyId(p: ParsedKeyId): string {
  return p.kind === "dek" ? `dek:${p.name}` : `${p.kind}:${p.vault!.toLowerCase()}/${p.name.toLowerCase()}`;
}

/** The one spelling of a keyId that the inventory, locks and ledger use: `kek:Demo-Vault/Orders`
 * and `kek:demo-vault/orders` name the same Key Vault object, so they are the same managed key. */
export function canonicalKeyId(keyId: string, field = "keyId"): string {
  return formatKeyId(parseKeyId(keyId, field));
}

/** The Key Vault object a keyId names (`<vault>/<name>`, canonical), whatever its kind: a KEK, a
 * signing key and a secret of the same name in the same vault are one object to keyrotor (a
 * certificate's key and secret share it too), so one managed key at most. Undefined for DEKs. */
export function vaultObjectOf(keyId: string): string | undefined {
  const p = parseKeyId(keyId);
  return p.vault === undefined ? undefined : `${p.vault}/${p.name}`;
}

/** Refuses a keyId not in canonical spelling (what new inventory rows must use), naming `field`. */
export function checkCanonicalKeyId(keyId: string, field = "keyId"): void {
  const canonical = canonicalKeyId(keyId, field);
  if (canonical !== keyId) {
    throw new InvalidRequestError("KeyIdNotCanonical", `[keyrotor] [inventory] ${keyId} must be spelled ${canonical} (vault and object names are case-insensitive)`, { field });
  }
}

/** 409: the vault object is already managed under another keyId (named, so the caller can use it). */
export function vaultObjectTaken(object: string, existing: string, requested: string): RotationConflictError {
  return new RotationConflictError("VaultObjectRegistered",
    `[keyrotor] [inventory] ${requested} names vault object ${object}, which keyrotor already manages as ${existing}; one vault object is one managed key`);
}

/** The keyIds of every kind that name the same vault object as `keyId` (itself included). */
export function sameObjectKeyIds(keyId: string): string[] {
  const p = parseKeyId(keyId);
  if (p.vault === undefined) return [formatKeyId(p)];
  return (["kek", "signing", "secret"] as const).map((kind) => formatKeyId({ kind, vault: p.vault, name: p.name }));
}

/** Who or what started a rotation ("manual": a person, by hand). Persisted in ledger entries. */
export const ROTATION_TRIGGERS = ["schedule", "expiry-event", "manual", "emergency"] as const;
export type RotationTrigger = (typeof ROTATION_TRIGGERS)[number];

/** How a rotation runs: "normal" (propagation wait, old versions retire after the overlap) or
 * "emergency" (a second person approves; no propagation wait; may revoke). The API, the CLI and
 * the workflow use these words; the API's deprecated "manual" is read as "normal" at its HTTP edge. */
export const ROTATION_MODES = ["normal", "emergency"] as const;
export type RotationMode = (typeof ROTATION_MODES)[number];

export const ROTATION_PHASES = [
  "requested", "approved", "locked", "versionCreated", "promoted", "rewrapping", "rewrapped",
  "completed", "failed", "aborted",
] as const;
export type RotationPhase = (typeof ROTATION_PHASES)[number];
export const TERMINAL_PHASES: readonly RotationPhase[] = ["completed", "failed", "aborted"];

/** Deterministic rotation ids: a trigger that repeats yields the same id, so it starts nothing new. */
export const rotationIds = {
  schedule: (keyId: string, periodIso: string) => `${keyId}@${periodIso}`,
  expiry: (keyId: string, version: string) => `${keyId}@expiry:${version}`,
  manual: (keyId: string, requestId: string) => `${keyId}@manual:${requestId}`,
  emergency: (keyId: string, requestId: string) => `${keyId}@emergency:${requestId}`,
  /** The retirement a timer hands `version` (the newest eligible one) to: at most once per version. */
  retirement: (keyId: string, version: string) => `${keyId}@retire:${version}`,
  /** The rollback of `rotationId` (a rotation of `keyId`): posting it twice finds the first one. */
  rollback: (keyId: string, rotationId: string) => `${keyId}@rollback:${rotationId.slice(keyId.length + 1)}`,
  /** A KEK's scheduled branch-key rotation in a due period (when its oldest primary branch key
   * turned `branchKeys.every` old): at most once per KEK and period. */
  branchKeys: (keyId: string, periodIso: string) => `${keyId}@branchKeys:${periodIso}`,
  /** A tenant's DEK rotation in a due period of the DEK fan-out. */
  dekInPeriod: (tenant: string, slot: string) => `dek:${tenant}@${slot}`,
  /** The DEK fan-out of a due period (not a rotation of one key: the orchestration's own id). */
  dekFanOut: (slot: string) => `dek-fanout@${slot}`,
};
