// Key operations of the data plane: lifecycle (create, get, list, update, rotate, rotation policy,
// soft delete/recover/purge) and cryptography with the version's real key material.
import { durationMs } from "./clock";
import {
  applyAttributes, asObject, attributesOut, checkName, newVersionId, ok, page, parseTags, SOFT_DELETE_MS,
  type HandlerRequest, type Reply, type VaultContext,
} from "./context";
import { decryptWith, defaultKeyOps, encryptWith, generateMaterial, isOct, KTYS, signWith, verifyWith, type Kty } from "./crypto";
import { PeerError, badParameter, deletedButRecoverable, deletedNotFound, notFound } from "./errors";
import { keyEntry, nameKey, type KeyEntry, type KeyVersion, type RotationPolicy } from "./store";

const ALL_KEY_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"];

export const kidOf = (ctx: VaultContext, name: string, version: string): string => `${ctx.url}/keys/${name}/${version}`;

export function keyBundle(ctx: VaultContext, entry: KeyEntry, v: KeyVersion): Record<string, unknown> {
  return {
    key: { kid: kidOf(ctx, entry.name, v.version), kty: v.kty, key_ops: v.keyOps, ...v.material.publicJwk },
    attributes: attributesOut(v.attributes),
    ...(v.tags ? { tags: v.tags } : {}),
  };
}

function keyItem(ctx: VaultContext, entry: KeyEntry, v: KeyVersion): Record<string, unknown> {
  return { kid: kidOf(ctx, entry.name, v.version), attributes: attributesOut(v.attributes), ...(v.tags ? { tags: v.tags } : {}) };
}

export function liveKey(ctx: VaultContext, name: string): KeyEntry {
  const entry = ctx.store.keys.get(nameKey(name));
  if (!entry) throw notFound("key", name);
  return entry;
}

/** The requested version, or the current one when the version segment is empty. */
export function keyVersion(ctx: VaultContext, name: string, version: string): { entry: KeyEntry; v: KeyVersion } {
  const entry = liveKey(ctx, name);
  const v = version ? entry.byVersion.get(version.toLowerCase()) : entry.versions[entry.versions.length - 1];
  if (!v) throw notFound("key", version ? `${name}/${version}` : name);
  return { entry, v };
}

function parseKeyOps(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((o) => typeof o !== "string" || !ALL_KEY_OPS.includes(o))) {
    throw badParameter(`Property key_ops must be an array of ${ALL_KEY_OPS.join(", ")}.`);
  }
  return [...new Set(v as string[])];
}

async function newKeyVersion(ctx: VaultContext, body: Record<string, unknown>, template?: KeyVersion): Promise<KeyVersion> {
  const kty = (body.kty ?? template?.kty) as Kty | undefined;
  if (!kty || !KTYS.includes(kty)) throw badParameter(`The key type (kty) ${String(kty)} is not supported; use one of ${KTYS.join(", ")}.`);
  const keySize = body.key_size ?? template?.material.size;
  if (keySize !== undefined && typeof keySize !== "number") throw badParameter("Property key_size must be a number.");
  const crv = body.crv ?? template?.material.crv;
  if (crv !== undefined && typeof crv !== "string") throw badParameter("Property crv must be a string.");
  const publicExponent = body.public_exponent;
  if (publicExponent !== undefined && typeof publicExponent !== "number") throw badParameter("Property public_exponent must be a number.");
  const material = await generateMaterial({ kty, ...(keySize !== undefined ? { keySize } : {}), ...(crv !== undefined ? { crv } : {}), ...(publicExponent !== undefined ? { publicExponent } : {}) });
  const now = ctx.clock.nowSec();
  const attributes = { enabled: true, created: now, updated: now };
  applyAttributes(attributes, body.attributes);
  const tags = parseTags(body.tags) ?? (template?.tags ? { ...template.tags } : undefined);
  return {
    version: newVersionId(),
    kty,
    keyOps: parseKeyOps(body.key_ops) ?? (template ? [...template.keyOps] : defaultKeyOps(kty)),
    attributes,
    ...(tags ? { tags } : {}),
    material,
    notified: [],
  };
}

function addVersion(ctx: VaultContext, entry: KeyEntry, v: KeyVersion): void {
  entry.versions.push(v);
  entry.byVersion.set(v.version, v);
  ctx.store.changed();
  ctx.newVersion("key", entry.name, v.version);
}

export async function createKey(ctx: VaultContext, req: HandlerRequest): Promise<Reply> {
  checkName("key", req.name);
  if (ctx.store.deletedKeys.has(nameKey(req.name))) throw deletedButRecoverable("key", req.name);
  const body = asObject(req.body);
  const v = await newKeyVersion(ctx, body);
  // Looked up after the await: another create of the same name may have finished meanwhile.
  const entry = ctx.store.keys.get(nameKey(req.name)) ?? keyEntry(req.name);
  ctx.store.keys.set(nameKey(req.name), entry);
  addVersion(ctx, entry, v);
  return ok(keyBundle(ctx, entry, v));
}

export async function rotateKey(ctx: VaultContext, req: HandlerRequest): Promise<Reply> {
  const { entry, v: current } = keyVersion(ctx, req.name, "");
  const v = await newKeyVersion(ctx, {}, current);
  const expiry = entry.rotationPolicy?.expiryTime;
  if (expiry) v.attributes.exp = v.attributes.created + Math.floor(durationMs(expiry) / 1000);
  addVersion(ctx, entry, v);
  return ok(keyBundle(ctx, entry, v));
}

/** Rotation that the peer does on its own (a policy's Rotate action). */
export async function autoRotate(ctx: VaultContext, name: string): Promise<void> {
  await rotateKey(ctx, { name, version: "", query: new URLSearchParams(), body: undefined, apiVersion: "" });
}

export function getKey(ctx: VaultContext, req: HandlerRequest): Reply {
  const { entry, v } = keyVersion(ctx, req.name, req.version);
  return ok(keyBundle(ctx, entry, v));
}

export function getKeys(ctx: VaultContext, req: HandlerRequest): Reply {
  const items = [...ctx.store.keys.values()].map((e) => keyItem(ctx, e, e.versions[e.versions.length - 1]!));
  return ok(page(ctx, req, "/keys", items));
}

export function getKeyVersions(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveKey(ctx, req.name);
  return ok(page(ctx, req, `/keys/${entry.name}/versions`, entry.versions.map((v) => keyItem(ctx, entry, v))));
}

export function updateKey(ctx: VaultContext, req: HandlerRequest): Reply {
  const { entry, v } = keyVersion(ctx, req.name, req.version);
  const body = asObject(req.body);
  const attributes = { ...v.attributes };
  applyAttributes(attributes, body.attributes);
  const keyOps = parseKeyOps(body.key_ops);
  const tags = parseTags(body.tags);
  attributes.updated = ctx.clock.nowSec();
  v.attributes = attributes;
  if (keyOps) v.keyOps = keyOps;
  if (tags) v.tags = tags;
  ctx.store.changed();
  return ok(keyBundle(ctx, entry, v));
}

// ---- rotation policy --------------------------------------------------------------------------

export const DEFAULT_NOTIFY = "P30D";

function policyOut(ctx: VaultContext, name: string, p: RotationPolicy | undefined): Record<string, unknown> {
  const id = `${ctx.url}/keys/${name}/rotationpolicy`;
  if (!p) {
    return { id, lifetimeActions: [{ trigger: { timeBeforeExpiry: DEFAULT_NOTIFY }, action: { type: "Notify" } }], attributes: {} };
  }
  return {
    id,
    lifetimeActions: p.lifetimeActions,
    attributes: { ...(p.expiryTime ? { expiryTime: p.expiryTime } : {}), created: p.created, updated: p.updated },
  };
}

function checkDuration(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badParameter(`Property ${field} must be an ISO-8601 duration.`);
  try {
    durationMs(v);
  } catch {
    throw badParameter(`Property ${field} must be an ISO-8601 duration, got ${v}.`);
  }
  return v;
}

export function getKeyRotationPolicy(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveKey(ctx, req.name);
  return ok(policyOut(ctx, entry.name, entry.rotationPolicy));
}

export function updateKeyRotationPolicy(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveKey(ctx, req.name);
  const body = asObject(req.body);
  const rawActions = body.lifetimeActions ?? [];
  if (!Array.isArray(rawActions)) throw badParameter("Property lifetimeActions must be an array.");
  const lifetimeActions = rawActions.map((a: unknown, i) => {
    const o = asObject(a);
    const trigger = asObject(o.trigger);
    const action = asObject(o.action);
    const type = typeof action.type === "string" ? action.type : "";
    const canonical = type.toLowerCase() === "rotate" ? "Rotate" : type.toLowerCase() === "notify" ? "Notify" : undefined;
    if (!canonical) throw badParameter(`lifetimeActions[${i}].action.type must be Rotate or Notify.`);
    const timeAfterCreate = checkDuration(trigger.timeAfterCreate, `lifetimeActions[${i}].trigger.timeAfterCreate`);
    const timeBeforeExpiry = checkDuration(trigger.timeBeforeExpiry, `lifetimeActions[${i}].trigger.timeBeforeExpiry`);
    if ((timeAfterCreate === undefined) === (timeBeforeExpiry === undefined)) {
      throw badParameter(`lifetimeActions[${i}].trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.`);
    }
    if (canonical === "Notify" && timeBeforeExpiry === undefined) throw badParameter("A Notify action can only be triggered by timeBeforeExpiry.");
    return { trigger: timeAfterCreate !== undefined ? { timeAfterCreate } : { timeBeforeExpiry: timeBeforeExpiry! }, action: { type: canonical } };
  });
  const attrs = asObject(body.attributes);
  const expiryTime = checkDuration(attrs.expiryTime, "attributes.expiryTime");
  if (expiryTime !== undefined && durationMs(expiryTime) < 28 * 86_400_000) throw badParameter("attributes.expiryTime must be at least 28 days (P28D).");
  const now = ctx.clock.nowSec();
  entry.rotationPolicy = { lifetimeActions, ...(expiryTime ? { expiryTime } : {}), created: entry.rotationPolicy?.created ?? now, updated: now };
  ctx.store.changed();
  return ok(policyOut(ctx, entry.name, entry.rotationPolicy));
}

// ---- soft delete ------------------------------------------------------------------------------

function deletedBundle(ctx: VaultContext, entry: KeyEntry, deletedDate: number, scheduledPurgeDate: number): Record<string, unknown> {
  return {
    recoveryId: `${ctx.url}/deletedkeys/${entry.name}`,
    deletedDate,
    scheduledPurgeDate,
    ...keyBundle(ctx, entry, entry.versions[entry.versions.length - 1]!),
  };
}

export function deleteKey(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveKey(ctx, req.name);
  const deletedDate = ctx.clock.nowSec();
  const scheduledPurgeDate = deletedDate + SOFT_DELETE_MS / 1000;
  ctx.store.keys.delete(nameKey(req.name));
  ctx.store.deletedKeys.set(nameKey(req.name), { entry, deletedDate, scheduledPurgeDate });
  ctx.store.changed();
  return ok(deletedBundle(ctx, entry, deletedDate, scheduledPurgeDate));
}

export function getDeletedKey(ctx: VaultContext, req: HandlerRequest): Reply {
  const d = ctx.store.deletedKeys.get(nameKey(req.name));
  if (!d) throw deletedNotFound("key", req.name);
  return ok(deletedBundle(ctx, d.entry, d.deletedDate, d.scheduledPurgeDate));
}

export function getDeletedKeys(ctx: VaultContext, req: HandlerRequest): Reply {
  const items = [...ctx.store.deletedKeys.values()].map((d) => ({
    ...keyItem(ctx, d.entry, d.entry.versions[d.entry.versions.length - 1]!),
    recoveryId: `${ctx.url}/deletedkeys/${d.entry.name}`,
    deletedDate: d.deletedDate,
    scheduledPurgeDate: d.scheduledPurgeDate,
  }));
  return ok(page(ctx, req, "/deletedkeys", items));
}

export function recoverDeletedKey(ctx: VaultContext, req: HandlerRequest): Reply {
  const d = ctx.store.deletedKeys.get(nameKey(req.name));
  if (!d) throw deletedNotFound("key", req.name);
  if (ctx.store.keys.has(nameKey(req.name))) throw new PeerError(409, "Conflict", `Key ${req.name} already exists.`);
  ctx.store.deletedKeys.delete(nameKey(req.name));
  ctx.store.keys.set(nameKey(req.name), d.entry);
  ctx.store.changed();
  return ok(keyBundle(ctx, d.entry, d.entry.versions[d.entry.versions.length - 1]!));
}

export function purgeDeletedKey(ctx: VaultContext, req: HandlerRequest): Reply {
  if (!ctx.store.deletedKeys.delete(nameKey(req.name))) throw deletedNotFound("key", req.name);
  ctx.store.changed();
  return { status: 204 };
}

// ---- cryptography -----------------------------------------------------------------------------

type CryptoOp = "encrypt" | "decrypt" | "wrapKey" | "unwrapKey" | "sign" | "verify";
const PRIVATE_OPS: ReadonlySet<CryptoOp> = new Set(["decrypt", "unwrapKey", "sign"]);
const RECOVERY_OPS: ReadonlySet<CryptoOp> = new Set(["decrypt", "unwrapKey", "verify"]);

/**
 * Key Vault's rules: a disabled key refuses its private-key operations (decrypt, unwrapKey, sign;
 * every operation of a symmetric key); outside its nbf/exp window a key still decrypts, unwraps
 * and verifies (so old data stays recoverable) but refuses encrypt, wrapKey and sign.
 */
function refuse(ctx: VaultContext, v: KeyVersion, op: CryptoOp): void {
  const a = v.attributes;
  if (!a.enabled && (PRIVATE_OPS.has(op) || isOct(v.kty))) {
    throw new PeerError(403, "Forbidden", `Operation ${op} is not allowed on a disabled key.`, "KeyDisabled");
  }
  if (!RECOVERY_OPS.has(op)) {
    const now = ctx.clock.nowSec();
    if (a.nbf !== undefined && now < a.nbf) {
      throw new PeerError(403, "Forbidden", `Operation ${op} is not allowed on a key that is not yet valid.`, "KeyNotYetValid");
    }
    if (a.exp !== undefined && now >= a.exp) {
      throw new PeerError(403, "Forbidden", `Operation ${op} is not allowed on an expired key.`, "KeyExpired");
    }
  }
  if (!v.keyOps.includes(op)) {
    throw new PeerError(403, "Forbidden", `Operation ${op} is not permitted on this key.`, "KeyOperationForbidden");
  }
}

function b64(body: Record<string, unknown>, field: string): Buffer {
  const v = body[field];
  if (typeof v !== "string" || !/^[A-Za-z0-9_\-+/]*={0,2}$/.test(v)) throw badParameter(`Property ${field} must be a base64url string.`);
  return Buffer.from(v, "base64url");
}

function alg(body: Record<string, unknown>): string {
  if (typeof body.alg !== "string" || body.alg === "") throw badParameter("Property alg is required.");
  return body.alg;
}

export function cryptoOp(op: CryptoOp) {
  return (ctx: VaultContext, req: HandlerRequest): Reply => {
    const { entry, v } = keyVersion(ctx, req.name, req.version);
    const body = asObject(req.body);
    const algorithm = alg(body);
    refuse(ctx, v, op);
    const kid = kidOf(ctx, entry.name, v.version);
    switch (op) {
      case "encrypt":
      case "wrapKey":
        return ok({ kid, value: encryptWith(v.material, algorithm, b64(body, "value")).toString("base64url") });
      case "decrypt":
      case "unwrapKey":
        return ok({ kid, value: decryptWith(v.material, algorithm, b64(body, "value")).toString("base64url") });
      case "sign":
        return ok({ kid, value: signWith(v.material, algorithm, b64(body, "value")).toString("base64url") });
      case "verify":
        return ok({ value: verifyWith(v.material, algorithm, b64(body, "digest"), b64(body, "value")) });
    }
  };
}
