// Key Vault events as Event Grid delivers them, in either schema (Event Grid or CloudEvents 1.0),
// normalised. Live payloads use PascalCase data fields, the docs camelCase, and casing has changed
// over time, so fields are read case-insensitively; NBF and EXP may be null, numbers or strings.
import { InvalidRequestError } from "./errors";

export const KEYVAULT_EVENT_PREFIX = "Microsoft.KeyVault.";

export interface KeyVaultEvent {
  /** Event id (Event Grid dedupes nothing for us: delivery is at-least-once). */
  id: string;
  /** Full type, e.g. Microsoft.KeyVault.KeyNearExpiry. */
  type: string;
  /** Short type, e.g. KeyNearExpiry. */
  shortType: string;
  schema: "eventgrid" | "cloudevents";
  vaultName: string;
  objectType: "Key" | "Secret" | "Certificate" | "Vault";
  objectName: string;
  version: string;
  /** Object id URL from the event (https://<vault>.vault.azure.net/keys/<name>/<version>). */
  objectId: string;
  notBefore?: Date;
  expiresOn?: Date;
  eventTime?: Date;
}

const MAX_NAME = 127;

function lowerKeys(o: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (o && typeof o === "object" && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) m.set(k.toLowerCase(), v);
  }
  return m;
}

function bad(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError("EventMalformed", message, { field });
}

function str(m: Map<string, unknown>, name: string, field: string, required = true): string | undefined {
  const v = m.get(name.toLowerCase());
  if (v === undefined || v === null || v === "") {
    if (required) throw bad(`${field} is missing`, field);
    return undefined;
  }
  if (typeof v !== "string" || v.length > 2048) throw bad(`${field} must be a string`, field);
  return v;
}

function epoch(m: Map<string, unknown>, name: string, field: string): Date | undefined {
  const v = m.get(name.toLowerCase());
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d{1,12}(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) throw bad(`${field} must be epoch seconds or null`, field);
  return new Date(n * 1000);
}

function instant(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw bad(`${field} must be an ISO-8601 time`, field);
  return d;
}

/** The object type each family of Key Vault event types is about (KeyVault.json, Event Grid data
 * plane 2018-01-01: Key*, Secret*, Certificate* and Vault* events), and the collection of the
 * object id URL that names such an object. */
const FAMILIES = [
  { prefix: "Key", objectType: "Key", collection: "keys" },
  { prefix: "Secret", objectType: "Secret", collection: "secrets" },
  { prefix: "Certificate", objectType: "Certificate", collection: "certificates" },
  { prefix: "Vault", objectType: "Vault", collection: undefined },
] as const;

function contradicts(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError("EventContradictory", message, { field });
}

/** An event whose type, data.ObjectType and object id (https://<vault>.<host>/<keys|secrets|
 * certificates>/<name>/<version>) disagree is refused: a SecretNearExpiry saying ObjectType "Key"
 * must never rotate a KEK. Key Vault names are case-insensitive, so names compare without case. */
function checkConsistent(e: { type: string; objectType: string; vaultName: string; objectName: string; version: string; objectId: string }): void {
  const short = e.type.slice(KEYVAULT_EVENT_PREFIX.length);
  const family = FAMILIES.find((f) => short.startsWith(f.prefix));
  if (family && family.objectType !== e.objectType) {
    throw contradicts(`${e.type} is about a ${family.objectType}, but data.ObjectType says ${e.objectType}`, "data.ObjectType");
  }
  if (!e.objectId) return;
  let url: URL;
  try {
    url = new URL(e.objectId);
  } catch {
    throw bad("data.Id is not a URL", "data.Id");
  }
  const expected = (FAMILIES.find((f) => f.objectType === e.objectType) ?? FAMILIES[3]).collection;
  const [collection = "", name = "", version = "", ...rest] = url.pathname.split("/").slice(1);
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  // A vault's own DNS name (<vault>.vault.azure.net, .vault.azure.cn, ...) must name the same vault;
  // a local stand-in serves every vault from one address (https://127.0.0.1:8443), nothing to compare.
  const vaultHost = /^([^.]+)\.(vault|managedhsm)\./i.exec(url.hostname);
  if (url.protocol !== "https:" || (vaultHost && !same(vaultHost[1]!, e.vaultName))) {
    throw contradicts(`data.Id names another vault than data.VaultName ${e.vaultName}`, "data.Id");
  }
  if (expected === undefined) return;
  if (collection !== expected) throw contradicts(`data.Id is under /${collection.slice(0, 40)}/, but data.ObjectType ${e.objectType} lives under /${expected}/`, "data.Id");
  if (!same(name, e.objectName)) throw contradicts(`data.Id names another object than data.ObjectName ${e.objectName}`, "data.Id");
  if (rest.some((r) => r !== "") || (version !== "" && e.version !== "" && !same(version, e.version))) {
    throw contradicts(`data.Id names another version than data.Version ${e.version}`, "data.Id");
  }
}

/** Is this an Event Grid subscription validation request (Event Grid schema)? Returns its code. */
export function validationCode(raw: unknown): string | undefined {
  const ev = lowerKeys(raw);
  if (ev.get("eventtype") !== "Microsoft.EventGrid.SubscriptionValidationEvent") return undefined;
  const code = lowerKeys(ev.get("data")).get("validationcode");
  return typeof code === "string" ? code : undefined;
}

/** Normalises one event; throws InvalidRequestError (code EventMalformed) naming the bad field. */
export function parseKeyVaultEvent(raw: unknown): KeyVaultEvent {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw bad("event must be a JSON object", "event");
  const ev = lowerKeys(raw);
  const isCloud = ev.has("specversion");
  if (isCloud && ev.get("specversion") !== "1.0") throw bad("specversion must be 1.0", "specversion");
  const type = str(ev, isCloud ? "type" : "eventType", isCloud ? "type" : "eventType")!;
  if (!type.startsWith(KEYVAULT_EVENT_PREFIX)) throw bad(`not a Key Vault event: ${type}`, isCloud ? "type" : "eventType");
  const id = str(ev, "id", "id")!;
  const eventTime = instant(str(ev, isCloud ? "time" : "eventTime", isCloud ? "time" : "eventTime", false), isCloud ? "time" : "eventTime");
  const data = lowerKeys(ev.get("data"));
  if (data.size === 0) throw bad("data is missing", "data");
  const objectType = str(data, "ObjectType", "data.ObjectType")!;
  if (!["Key", "Secret", "Certificate", "Vault"].includes(objectType)) throw bad(`unknown ObjectType ${objectType}`, "data.ObjectType");
  const vaultName = str(data, "VaultName", "data.VaultName")!;
  if (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(vaultName)) throw bad("data.VaultName is not a vault name", "data.VaultName");
  const objectName = str(data, "ObjectName", "data.ObjectName", objectType !== "Vault") ?? "";
  if (objectName.length > MAX_NAME || (objectName && !/^[A-Za-z0-9-]+$/.test(objectName))) throw bad("data.ObjectName is not an object name", "data.ObjectName");
  const version = str(data, "Version", "data.Version", objectType !== "Vault") ?? "";
  if (version && !/^[A-Za-z0-9]{1,64}$/.test(version)) throw bad("data.Version is not a version id", "data.Version");
  const objectId = str(data, "Id", "data.Id", false) ?? "";
  checkConsistent({ type, objectType, vaultName, objectName, version, objectId });
  return {
    id,
    type,
    shortType: type.slice(KEYVAULT_EVENT_PREFIX.length),
    schema: isCloud ? "cloudevents" : "eventgrid",
    vaultName,
    objectType: objectType as KeyVaultEvent["objectType"],
    objectName,
    version,
    objectId,
    notBefore: epoch(data, "NBF", "data.NBF"),
    expiresOn: epoch(data, "EXP", "data.EXP"),
    eventTime,
  };
}

export type KeyVaultEventAction =
  | { action: "rotate"; keyId: string; version: string }
  | { action: "alertCertificate"; certificate: string; version: string }
  | { action: "checkNewVersion"; keyId: string; version: string }
  | { action: "ignore"; why: string };

/** What keyrotor does with an event, given which keyIds it manages. Pure. */
export function decide(ev: KeyVaultEvent, isManaged: (keyId: string) => boolean, managedVaults: ReadonlySet<string>): KeyVaultEventAction {
  if (!managedVaults.has(ev.vaultName.toLowerCase())) return { action: "ignore", why: `vault ${ev.vaultName} is not in the allow-list` };
  const kinds = ev.objectType === "Key" ? ["kek", "signing"] : ev.objectType === "Secret" ? ["secret"] : [];
  const keyId = kinds.map((k) => `${k}:${ev.vaultName}/${ev.objectName}`).find(isManaged);
  switch (ev.shortType) {
    case "KeyNearExpiry":
    case "KeyExpired":
    case "SecretNearExpiry":
    case "SecretExpired":
      return keyId ? { action: "rotate", keyId, version: ev.version } : { action: "ignore", why: `${ev.objectType} ${ev.objectName} is not managed by keyrotor` };
    case "KeyNewVersionCreated":
      return keyId ? { action: "checkNewVersion", keyId, version: ev.version } : { action: "ignore", why: `${ev.objectName} is not managed by keyrotor` };
    case "CertificateNearExpiry":
    case "CertificateExpired":
      return { action: "alertCertificate", certificate: `${ev.vaultName}/${ev.objectName}`, version: ev.version };
    default:
      return { action: "ignore", why: `${ev.type} is not handled` };
  }
}
