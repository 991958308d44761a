// The Key Vault Event Grid trigger's work. Near-expiry and expired keys and secrets start a rotation
// under rotationId <keyId>@expiry:<version>, so Event Grid's at-least-once redelivery starts nothing
// new; certificate expiry raises CertificateExpiring (certificates renew through Key Vault's issuer
// policy); a KeyNewVersionCreated for a version keyrotor did not create is recorded and alerted.
//
// Malformed events: Event Grid retries every failed delivery for up to 24 hours, except a 400 (or
// 413) answer, which it dead-letters or drops at once. A Functions Event Grid trigger cannot pick
// its HTTP status (a thrown error becomes a 500, which is retried), so a malformed event is
// ACCEPTED (the invocation succeeds, Event Grid stops) and leaves a trace: a log line and an
// EventRejected entry in the ledger's system chain "system:eventgrid", keyed by a hash of the
// payload so a redelivered copy is recorded once. Transient failures (a store or vault is down)
// still throw, so Event Grid redelivers those. See docs/events.md.
import { createHash } from "node:crypto";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { jsonValueTooDeep, MAX_JSON_DEPTH } from "../domain/jsonDepth";
import { decide, parseKeyVaultEvent, validationCode, type KeyVaultEvent } from "../domain/keyVaultEvents";
import { isHandledKeyVaultEventType } from "../domain/keyVaultEventTypes";
import { rotationIds } from "../domain/keys";
import { canonicalJson, type CanonicalValue } from "../ledger/canonical";
import { startRotation, type StartOptions } from "../orchestration/start";
import { createLogger, type StructuredLogger } from "../telemetry";
import { notify } from "./notify";
import type { ApiServices, RotationClient } from "./ports";

export const EVENTGRID_ACTOR = "system:eventgrid";
/** The ledger chain that records refused events (not a managed key). */
export const EVENTGRID_CHAIN = "system:eventgrid";

export type EventOutcome =
  | { outcome: "validation"; validationResponse: string }
  | { outcome: "rejected"; code: string; field?: string }
  | { outcome: "ignored"; why: string }
  | { outcome: "rotationStarted" | "rotationAlreadyStarted"; rotationId: string }
  | { outcome: "rotationConflict"; rotationId: string; heldBy?: string }
  | { outcome: "certificateAlert"; certificate: string }
  | { outcome: "ownVersion"; keyId: string; version: string }
  | { outcome: "unmanagedVersion"; keyId: string; version: string };

function safeJson(raw: unknown): string {
  // A too-deep payload cannot be serialised without recursion: its digest covers its top level
  // (id, type, scalars), so a redelivered copy is still recorded once.
  if (jsonValueTooDeep(raw, 2 * MAX_JSON_DEPTH)) {
    const top = raw && typeof raw === "object" ? Object.entries(raw as Record<string, unknown>) : [];
    return `too-deep:${top.map(([k, v]) => `${k}=${v !== null && typeof v === "object" ? "…" : String(v)}`).join("&")}`;
  }
  try {
    return canonicalJson(raw as CanonicalValue) ?? "undefined";
  } catch {
    try {
      return JSON.stringify(raw) ?? "undefined";
    } catch {
      return String(raw);
    }
  }
}

/** Short printable text of an attacker-controlled value, for logs and the ledger. */
function printable(v: unknown, max = 200): string | undefined {
  return typeof v === "string" ? v.replace(/[^\x20-\x7e]/g, "?").slice(0, max) : undefined;
}

/** Structured lines (rotationId, keyId, phase) through the handler's log function. */
const events = (log: (l: string) => void): StructuredLogger => createLogger("eventgrid", {}, (_level, line) => log(line));

async function reject(s: ApiServices, raw: unknown, err: InvalidRequestError, log: (l: string) => void): Promise<EventOutcome> {
  const digest = createHash("sha256").update(safeJson(raw)).digest("hex").slice(0, 40);
  const o = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const id = printable(o.id);
  const type = printable(o.eventType ?? o.type);
  log(`[keyrotor] [eventgrid] rejected event ${id ?? "(no id)"} (${type ?? "no type"}): ${err.code} ${printable(err.message, 300) ?? ""}`);
  await s.ledger.append({
    keyId: EVENTGRID_CHAIN, entryId: `EventRejected:${digest}`, type: "EventRejected", actor: EVENTGRID_ACTOR,
    error: { code: err.code, message: printable(err.message, 500) ?? err.code },
    details: { payloadSha256: digest, ...(err.field ? { field: err.field } : {}), ...(id ? { eventId: id } : {}), ...(type ? { eventType: type } : {}) },
  });
  return { outcome: "rejected", code: err.code, ...(err.field ? { field: err.field } : {}) };
}

/** keyIds as decide() spells them (the event's vault name) → the inventory's keyId (vault names
 * are case-insensitive; the inventory may spell them in lower case). */
async function managedIds(s: ApiServices, ev: KeyVaultEvent): Promise<Map<string, string>> {
  const kinds = ev.objectType === "Key" ? ["kek", "signing"] : ev.objectType === "Secret" ? ["secret"] : [];
  const found = new Map<string, string>();
  for (const kind of kinds) {
    for (const vault of new Set([ev.vaultName, ev.vaultName.toLowerCase()])) {
      const keyId = `${kind}:${vault}/${ev.objectName}`;
      // The inventory's spelling (canonical): the event's object name keeps the vault's case.
      const row = found.has(`${kind}:${ev.vaultName}/${ev.objectName}`) ? undefined : await s.inventory.get(keyId);
      if (row) found.set(`${kind}:${ev.vaultName}/${ev.objectName}`, row.key.keyId);
    }
  }
  return found;
}

export async function handleKeyVaultEvent(s: ApiServices, client: RotationClient, raw: unknown, opts: { log?: (line: string) => void; start?: StartOptions } = {}): Promise<EventOutcome> {
  const log = opts.log ?? (() => {});
  // Before anything walks the event recursively (validation, canonical JSON for the ledger digest).
  if (jsonValueTooDeep(raw)) return reject(s, raw, new InvalidRequestError("EventTooDeep", `event nests deeper than ${MAX_JSON_DEPTH} levels`, { field: "event" }), log);
  const code = validationCode(raw);
  if (code !== undefined) return { outcome: "validation", validationResponse: code };
  let ev: KeyVaultEvent;
  try {
    ev = parseKeyVaultEvent(raw);
  } catch (err) {
    if (err instanceof InvalidRequestError) return reject(s, raw, err, log);
    throw err;
  }
  const ignore = (why: string): EventOutcome => {
    log(`[keyrotor] [eventgrid] ignored ${ev.type} ${ev.id} for ${ev.vaultName}/${ev.objectName}: ${why}`);
    return { outcome: "ignored", why };
  };
  if (!isHandledKeyVaultEventType(ev.type)) return ignore(`${ev.type} is not an event type keyrotor handles`);
  if (!s.settings.managedVaults.has(ev.vaultName.toLowerCase())) return ignore(`vault ${ev.vaultName} is not in KEYROTOR_VAULT_URLS`);
  const found = await managedIds(s, ev);
  const action = decide(ev, (k) => found.has(k), s.settings.managedVaults);
  const real = (k: string): string => found.get(k) ?? k;
  switch (action.action) {
    case "ignore":
      return ignore(action.why);
    case "alertCertificate": {
      const keyId = `certificate:${action.certificate}`;
      await notify(s, {
        type: "CertificateExpiring", keyId, kind: "secret", tenant: "platform", occurrenceId: `${keyId}@${ev.shortType}:${action.version}`,
        details: { certificate: action.certificate, version: action.version, eventType: ev.shortType, ...(ev.expiresOn ? { expiresAt: ev.expiresOn.toISOString() } : {}) },
      });
      log(`[keyrotor] [eventgrid] ${ev.shortType}: certificate ${action.certificate} alert published`);
      return { outcome: "certificateAlert", certificate: action.certificate };
    }
    case "rotate": {
      const keyId = real(action.keyId);
      const key = (await s.inventory.get(keyId))?.key;
      if (key?.primaryVersion && key.primaryVersion !== action.version) return ignore(`version ${action.version} of ${keyId} is no longer primary (${key.primaryVersion} is)`);
      const rotationId = rotationIds.expiry(keyId, action.version);
      try {
        // Event Grid waits ~30 s for the webhook's answer: start and answer without waiting for the
        // lock decision (a refusal already known is still reported); the orchestration records it.
        const r = await startRotation(client, { rotationId, keyId, trigger: "expiry-event", actor: EVENTGRID_ACTOR, reason: `${ev.shortType} for version ${action.version}` }, { decisionTimeoutMs: 0, ...opts.start });
        events(log).info(`${ev.shortType}: ${r.status}`, { rotationId, keyId, phase: "requested", trigger: "expiry-event", version: action.version });
        return { outcome: r.status === "started" ? "rotationStarted" : "rotationAlreadyStarted", rotationId };
      } catch (err) {
        if (!(err instanceof RotationConflictError)) throw err;
        // Another rotation of the key is running: it replaces the expiring version anyway.
        events(log).warn(`${ev.shortType}: not started: ${err.message}`, { rotationId, keyId, phase: "aborted", errorCode: err.code, heldBy: err.runningRotationId });
        return { outcome: "rotationConflict", rotationId, ...(err.runningRotationId ? { heldBy: err.runningRotationId } : {}) };
      }
    }
    case "checkNewVersion":
      return checkNewVersion(s, real(action.keyId), action.version, ev, log);
  }
}

/** A new key version is keyrotor's when the inventory lists it or the vault tags it with a rotationId. */
async function checkNewVersion(s: ApiServices, keyId: string, version: string, ev: KeyVaultEvent, log: (l: string) => void): Promise<EventOutcome> {
  const key = (await s.inventory.get(keyId))?.key;
  if (key?.versions.some((v) => v.version === version)) return { outcome: "ownVersion", keyId, version };
  const [, rest = ""] = keyId.split(":");
  const [vault = "", name = ""] = rest.split("/");
  const versions = await s.vault.listKeyVersions(vault, name);
  if (versions.find((v) => v.version === version)?.tags.rotationId) return { outcome: "ownVersion", keyId, version };
  const occurrenceId = `${keyId}@unmanaged:${version}`;
  await s.ledger.append({
    keyId, entryId: occurrenceId, type: "UnmanagedVersionDetected", actor: EVENTGRID_ACTOR, versionAfter: version,
    details: { version, eventId: printable(ev.id) ?? "", eventType: ev.shortType },
  });
  await notify(s, { type: "UnmanagedVersionDetected", keyId, occurrenceId, details: { version } });
  log(`[keyrotor] [eventgrid] ${keyId}: version ${version} was not created by keyrotor (UnmanagedVersionDetected)`);
  return { outcome: "unmanagedVersion", keyId, version };
}
