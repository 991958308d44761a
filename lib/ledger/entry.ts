// Ledger entries: validation of what writers append, the hash over the canonical encoding, and
// the flat Table row shape (nested fields are stored as JSON text so they round-trip exactly).
import { LEDGER_ENTRY_TYPES, type LedgerAppend, type LedgerEntry } from "../ports";
import { ROTATION_TRIGGERS } from "../domain/keys";
import { InvalidRequestError } from "../domain/errors";
import { escapeKey, unescapeKey } from "../stores/tables";
import { canonicalJson, sha256Hex, type CanonicalValue } from "./canonical";

/** RowKeys of entries: 12 digits, so lexical order is numeric order and all sort before "head". */
export const SEQ_DIGITS = 12;
export const seqRowKey = (seq: number): string => String(seq).padStart(SEQ_DIGITS, "0");
export const isSeqRowKey = (rowKey: string): boolean => rowKey.length === SEQ_DIGITS && /^\d+$/.test(rowKey);
/** The sequence number a RowKey stands for, or undefined when it is not an entry's RowKey (seq 0
 * is no entry: chains start at 1). */
export function seqOfRowKey(rowKey: string): number | undefined {
  if (!isSeqRowKey(rowKey)) return undefined;
  const seq = Number(rowKey);
  return seq >= 1 ? seq : undefined;
}

/** RowKey of the index row that makes appends idempotent: `id:` + the escaped entryId. */
export const idRowKey = (entryId: string): string => `id:${escapeKey(entryId)}`;
/** The entryId an index RowKey stands for, or undefined when the RowKey is not one the ledger
 * writes (not `id:`, or not escaped the way escapeKey escapes). */
export function entryIdOfRowKey(rowKey: string): string | undefined {
  if (!rowKey.startsWith("id:")) return undefined;
  const escaped = rowKey.slice(3);
  const entryId = unescapeKey(escaped);
  return entryId.length > 0 && escapeKey(entryId) === escaped ? entryId : undefined;
}

const MAX_TEXT = 2_000;
const MAX_JSON = 8_000;

function bad(field: string, message: string): never {
  throw new InvalidRequestError("LedgerEntryInvalid", `[keyrotor] [ledger] ${message}`, { field });
}

function checkText(field: string, v: unknown, required: boolean, max = MAX_TEXT): void {
  if (v === undefined && !required) return;
  if (typeof v !== "string" || (required && v.length === 0)) bad(field, `${field} must be a ${required ? "non-empty " : ""}string`);
  if (v.length > max) bad(field, `${field} is longer than ${max} characters`);
}

/** Refuses what the ledger cannot store or hash faithfully. Never inspects for key material: callers
 * must not pass any (no plaintext key material ever goes to the ledger, logs, events or history). */
export function validateAppend(a: LedgerAppend): void {
  checkText("keyId", a.keyId, true, 400);
  checkText("entryId", a.entryId, true, 300);
  if (!(LEDGER_ENTRY_TYPES as readonly string[]).includes(a.type)) bad("type", `type "${String(a.type)}" is not a ledger entry type`);
  if (a.trigger !== undefined && !(ROTATION_TRIGGERS as readonly string[]).includes(a.trigger)) bad("trigger", `trigger "${String(a.trigger)}" is not a rotation trigger`);
  checkText("actor", a.actor, true, 400);
  for (const f of ["rotationId", "reason", "versionBefore", "versionAfter"] as const) checkText(f, a[f], false);
  if (a.at !== undefined && (typeof a.at !== "string" || Number.isNaN(Date.parse(a.at)))) bad("at", "at must be an ISO-8601 instant");
  if (a.counts !== undefined) {
    for (const [k, n] of Object.entries(a.counts)) if (!Number.isSafeInteger(n)) bad(`counts.${k}`, `counts.${k} must be an integer`);
  }
  if (a.error !== undefined && (typeof a.error.code !== "string" || typeof a.error.message !== "string")) bad("error", "error must be {code, message}");
  if (a.details !== undefined) {
    for (const [k, v] of Object.entries(a.details)) {
      if (typeof v === "number" ? !Number.isFinite(v) : typeof v !== "string" && typeof v !== "boolean") bad(`details.${k}`, `details.${k} must be a string, finite number or boolean`);
    }
  }
  for (const f of ["counts", "error", "details"] as const) {
    if (a[f] !== undefined && JSON.stringify(a[f]).length > MAX_JSON) bad(f, `${f} is larger than ${MAX_JSON} characters of JSON`);
  }
}

/** Every field of the entry except `hash`, exactly as hashed. */
function hashedFields(e: Omit<LedgerEntry, "hash">): CanonicalValue {
  return {
    keyId: e.keyId, seq: e.seq, entryId: e.entryId, type: e.type, rotationId: e.rotationId, trigger: e.trigger,
    actor: e.actor, reason: e.reason, versionBefore: e.versionBefore, versionAfter: e.versionAfter,
    counts: e.counts, error: e.error, details: e.details, at: e.at, prevHash: e.prevHash,
  };
}

/** canonicalJson(hashedFields(e)), written out field by field in sorted order: verify() spends most
 * of its CPU here. A property test holds it equal to the generic encoder. */
export function canonicalEntry(e: Omit<LedgerEntry, "hash">): string {
  const q = JSON.stringify;
  let s = `{"actor":${q(e.actor)},"at":${q(e.at)}`;
  if (e.counts !== undefined) s += `,"counts":${canonicalJson(e.counts)}`;
  if (e.details !== undefined) s += `,"details":${canonicalJson(e.details)}`;
  s += `,"entryId":${q(e.entryId)}`;
  if (e.error !== undefined) s += `,"error":${canonicalJson(e.error)}`;
  s += `,"keyId":${q(e.keyId)},"prevHash":${q(e.prevHash)}`;
  if (e.reason !== undefined) s += `,"reason":${q(e.reason)}`;
  if (e.rotationId !== undefined) s += `,"rotationId":${q(e.rotationId)}`;
  s += `,"seq":${canonicalJson(e.seq)}`;
  if (e.trigger !== undefined) s += `,"trigger":${q(e.trigger)}`;
  s += `,"type":${q(e.type)}`;
  if (e.versionAfter !== undefined) s += `,"versionAfter":${q(e.versionAfter)}`;
  if (e.versionBefore !== undefined) s += `,"versionBefore":${q(e.versionBefore)}`;
  return `${s}}`;
}

/** The reference encoding (what docs/ledger.md describes). */
export function canonicalEntryReference(e: Omit<LedgerEntry, "hash">): string {
  return canonicalJson(hashedFields(e));
}

export function entryHash(e: Omit<LedgerEntry, "hash">): string {
  return sha256Hex(canonicalEntry(e));
}

export function buildEntry(a: LedgerAppend, seq: number, prevHash: string, at: string): LedgerEntry {
  const unhashed: Omit<LedgerEntry, "hash"> = { ...pick(a), seq, at, prevHash };
  return { ...unhashed, hash: entryHash(unhashed) };
}

/** Copies only the known fields: callers' extra properties never reach storage or the hash. */
function pick(a: LedgerAppend): LedgerAppend {
  const out: LedgerAppend = { keyId: a.keyId, entryId: a.entryId, type: a.type, actor: a.actor };
  if (a.rotationId !== undefined) out.rotationId = a.rotationId;
  if (a.trigger !== undefined) out.trigger = a.trigger;
  if (a.reason !== undefined) out.reason = a.reason;
  if (a.versionBefore !== undefined) out.versionBefore = a.versionBefore;
  if (a.versionAfter !== undefined) out.versionAfter = a.versionAfter;
  if (a.counts !== undefined) out.counts = { ...a.counts };
  if (a.error !== undefined) out.error = { code: a.error.code, message: a.error.message };
  if (a.details !== undefined) out.details = { ...a.details };
  return out;
}

/** Every property an entry row can hold (what verify() reads). */
export const ENTRY_ROW_FIELDS = [
  "keyId", "seq", "entryId", "type", "actor", "at", "prevHash", "hash", "rotationId", "trigger", "reason", "versionBefore", "versionAfter", "counts", "error", "details",
] as const;

export type RowProps = Record<string, string | number | boolean>;

export function entryToRow(e: LedgerEntry): RowProps {
  const row: RowProps = { keyId: e.keyId, seq: e.seq, entryId: e.entryId, type: e.type, actor: e.actor, at: e.at, prevHash: e.prevHash, hash: e.hash };
  if (e.rotationId !== undefined) row.rotationId = e.rotationId;
  if (e.trigger !== undefined) row.trigger = e.trigger;
  if (e.reason !== undefined) row.reason = e.reason;
  if (e.versionBefore !== undefined) row.versionBefore = e.versionBefore;
  if (e.versionAfter !== undefined) row.versionAfter = e.versionAfter;
  if (e.counts !== undefined) row.counts = JSON.stringify(e.counts);
  if (e.error !== undefined) row.error = JSON.stringify(e.error);
  if (e.details !== undefined) row.details = JSON.stringify(e.details);
  return row;
}

/** Reads a stored row back; returns a reason string instead of throwing when the row is malformed
 * (verify reports it as a hash mismatch: the row is not what was hashed). */
export function rowToEntry(row: Record<string, unknown>): LedgerEntry | string {
  const str = (k: string): string | undefined => (typeof row[k] === "string" ? row[k] : undefined);
  const keyId = str("keyId"), entryId = str("entryId"), type = str("type"), actor = str("actor"), at = str("at");
  const prevHash = str("prevHash"), hash = str("hash");
  const seq = row.seq;
  if (!keyId || !entryId || !type || actor === undefined || !at || !prevHash || !hash || typeof seq !== "number") {
    return "a required field is missing or has the wrong type";
  }
  const e: LedgerEntry = { keyId, seq, entryId, type: type as LedgerEntry["type"], actor, at, prevHash, hash };
  for (const k of ["rotationId", "trigger", "reason", "versionBefore", "versionAfter"] as const) {
    const v = str(k);
    if (v !== undefined) (e as unknown as Record<string, string>)[k] = v;
    else if (row[k] !== undefined && row[k] !== null) return `${k} has the wrong type`;
  }
  for (const k of ["counts", "error", "details"] as const) {
    const v = row[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") return `${k} has the wrong type`;
    try {
      (e as unknown as Record<string, unknown>)[k] = JSON.parse(v);
    } catch {
      return `${k} is not JSON`;
    }
  }
  return e;
}
