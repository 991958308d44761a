// Secret operations of the data plane: set, get, list, update, soft delete/recover/purge.
import {
  applyAttributes, asObject, attributesOut, checkName, newVersionId, ok, page, parseTags, SOFT_DELETE_MS,
  type HandlerRequest, type Reply, type VaultContext,
} from "./context";
import { PeerError, badParameter, deletedButRecoverable, deletedNotFound, notFound } from "./errors";
import { nameKey, secretEntry, type SecretEntry, type SecretVersion } from "./store";

export const secretIdOf = (ctx: VaultContext, name: string, version: string): string => `${ctx.url}/secrets/${name}/${version}`;

function secretBundle(ctx: VaultContext, entry: SecretEntry, v: SecretVersion, withValue = true): Record<string, unknown> {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: secretIdOf(ctx, entry.name, v.version),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributesOut(v.attributes),
    ...(v.tags ? { tags: v.tags } : {}),
  };
}

function secretItem(ctx: VaultContext, entry: SecretEntry, v: SecretVersion): Record<string, unknown> {
  return {
    id: secretIdOf(ctx, entry.name, v.version),
    attributes: attributesOut(v.attributes),
    ...(v.tags ? { tags: v.tags } : {}),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
  };
}

function liveSecret(ctx: VaultContext, name: string): SecretEntry {
  const entry = ctx.store.secrets.get(nameKey(name));
  if (!entry) throw notFound("secret", name);
  return entry;
}

function secretVersion(ctx: VaultContext, name: string, version: string): { entry: SecretEntry; v: SecretVersion } {
  const entry = liveSecret(ctx, name);
  const v = version ? entry.byVersion.get(version.toLowerCase()) : entry.versions[entry.versions.length - 1];
  if (!v) throw notFound("secret", version ? `${name}/${version}` : name);
  return { entry, v };
}

function contentType(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badParameter("Property contentType must be a string.");
  return v;
}

export function setSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  checkName("secret", req.name);
  if (ctx.store.deletedSecrets.has(nameKey(req.name))) throw deletedButRecoverable("secret", req.name);
  const body = asObject(req.body);
  if (typeof body.value !== "string") throw badParameter("Property value is required and must be a string.");
  if (body.value.length > 25_600) throw badParameter("The secret value exceeds the maximum size of 25 KB.");
  const now = ctx.clock.nowSec();
  const attributes = { enabled: true, created: now, updated: now };
  applyAttributes(attributes, body.attributes);
  const tags = parseTags(body.tags);
  const ct = contentType(body.contentType);
  const v: SecretVersion = {
    version: newVersionId(), value: body.value, attributes, notified: [],
    ...(ct !== undefined ? { contentType: ct } : {}), ...(tags ? { tags } : {}),
  };
  let entry = ctx.store.secrets.get(nameKey(req.name));
  if (!entry) {
    entry = secretEntry(req.name);
    ctx.store.secrets.set(nameKey(req.name), entry);
  }
  entry.versions.push(v);
  entry.byVersion.set(v.version, v);
  ctx.store.changed();
  ctx.newVersion("secret", entry.name, v.version);
  return ok(secretBundle(ctx, entry, v));
}

export function getSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  const { entry, v } = secretVersion(ctx, req.name, req.version);
  if (!v.attributes.enabled) throw new PeerError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
  return ok(secretBundle(ctx, entry, v));
}

export function getSecrets(ctx: VaultContext, req: HandlerRequest): Reply {
  const items = [...ctx.store.secrets.values()].map((e) => secretItem(ctx, e, e.versions[e.versions.length - 1]!));
  return ok(page(ctx, req, "/secrets", items));
}

export function getSecretVersions(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveSecret(ctx, req.name);
  return ok(page(ctx, req, `/secrets/${entry.name}/versions`, entry.versions.map((v) => secretItem(ctx, entry, v))));
}

export function updateSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  const { entry, v } = secretVersion(ctx, req.name, req.version);
  const body = asObject(req.body);
  const attributes = { ...v.attributes };
  applyAttributes(attributes, body.attributes);
  const tags = parseTags(body.tags);
  const ct = contentType(body.contentType);
  attributes.updated = ctx.clock.nowSec();
  v.attributes = attributes;
  if (tags) v.tags = tags;
  if (ct !== undefined) v.contentType = ct;
  ctx.store.changed();
  return ok(secretBundle(ctx, entry, v, false));
}

function deletedSecretBundle(ctx: VaultContext, entry: SecretEntry, deletedDate: number, scheduledPurgeDate: number): Record<string, unknown> {
  return {
    recoveryId: `${ctx.url}/deletedsecrets/${entry.name}`,
    deletedDate,
    scheduledPurgeDate,
    ...secretBundle(ctx, entry, entry.versions[entry.versions.length - 1]!, false),
  };
}

export function deleteSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  const entry = liveSecret(ctx, req.name);
  const deletedDate = ctx.clock.nowSec();
  const scheduledPurgeDate = deletedDate + SOFT_DELETE_MS / 1000;
  ctx.store.secrets.delete(nameKey(req.name));
  ctx.store.deletedSecrets.set(nameKey(req.name), { entry, deletedDate, scheduledPurgeDate });
  ctx.store.changed();
  return ok(deletedSecretBundle(ctx, entry, deletedDate, scheduledPurgeDate));
}

export function getDeletedSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  const d = ctx.store.deletedSecrets.get(nameKey(req.name));
  if (!d) throw deletedNotFound("secret", req.name);
  return ok(deletedSecretBundle(ctx, d.entry, d.deletedDate, d.scheduledPurgeDate));
}

export function getDeletedSecrets(ctx: VaultContext, req: HandlerRequest): Reply {
  const items = [...ctx.store.deletedSecrets.values()].map((d) => ({
    ...secretItem(ctx, d.entry, d.entry.versions[d.entry.versions.length - 1]!),
    recoveryId: `${ctx.url}/deletedsecrets/${d.entry.name}`,
    deletedDate: d.deletedDate,
    scheduledPurgeDate: d.scheduledPurgeDate,
  }));
  return ok(page(ctx, req, "/deletedsecrets", items));
}

export function recoverDeletedSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  const d = ctx.store.deletedSecrets.get(nameKey(req.name));
  if (!d) throw deletedNotFound("secret", req.name);
  if (ctx.store.secrets.has(nameKey(req.name))) throw new PeerError(409, "Conflict", `Secret ${req.name} already exists.`);
  ctx.store.deletedSecrets.delete(nameKey(req.name));
  ctx.store.secrets.set(nameKey(req.name), d.entry);
  ctx.store.changed();
  return ok(secretBundle(ctx, d.entry, d.entry.versions[d.entry.versions.length - 1]!, false));
}

export function purgeDeletedSecret(ctx: VaultContext, req: HandlerRequest): Reply {
  if (!ctx.store.deletedSecrets.delete(nameKey(req.name))) throw deletedNotFound("secret", req.name);
  ctx.store.changed();
  return { status: 204 };
}
