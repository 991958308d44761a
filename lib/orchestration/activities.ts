// The activities of the rotation workflows. Each one first checks whether its work is already
// done (by rotationId), then does one kind of change, and returns ids and counts only: inputs and
// results are persisted in orchestration history, so key material never enters or leaves here.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { familyTag, InvalidRequestError, InvariantViolationError } from "../domain/errors";
import { parseKeyId, type KeyKind, type KeyVersion, type ManagedKey, type RotationPhase, type VersionState } from "../domain/keys";
import { responderGuidance } from "../domain/guidance";
import { DEFAULT_SECRET, dualRunningMs, type Policy } from "../domain/policy";
import { durationMs, retirementCandidates } from "../domain/rotation";
import { add, demote, findRollbackTarget, promote, retire, revoke, rollbackTarget } from "../domain/versions";
import { dekRecord, dekVersionLabel, type DekRecord } from "../envelope/dekRecord";
import { eventMessageId } from "../events/message";
import { LEDGER_ENTRY_TYPES, ROTATION_EVENT_TYPES } from "../ports";
import type { RotationDeps } from "./ports";
import type { HierarchyRuntime } from "../hierarchy/durableRuntime";
import { dekGoesUnderBranchKeys, hierarchyTenant, rotateHierarchyDek } from "../hierarchy/durableDeks";
import { settleRotatedDek } from "../hierarchy/durableDekRace";
import { assertKekVersionUsable, rollBackTenantDek } from "./dekGuards";
import { providerSecretVersion, retireProviderSlot } from "../secrets/activity";
import { dekGate, kekPortOver } from "../validation/activity";

// ---- shared -------------------------------------------------------------------------------------

async function loadKey(deps: RotationDeps, keyId: string): Promise<{ key: ManagedKey; etag: string }> {
  const row = await deps.inventory.get(keyId);
  if (!row) throw new InvalidRequestError("KeyNotManaged", `[keyrotor] [rotation] ${keyId} is not in the inventory`, { status: 404 });
  return row;
}

function vaultAndName(keyId: string): { kind: KeyKind; vault: string; name: string } {
  const p = parseKeyId(keyId);
  if (!p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [rotation] ${keyId} has no vault`);
  return { kind: p.kind, vault: p.vault, name: p.name };
}

function addIso(iso: string, duration: string | undefined): string | undefined {
  return duration ? new Date(Date.parse(iso) + durationMs(duration)).toISOString() : undefined;
}

async function policyOf(deps: RotationDeps, key: ManagedKey): Promise<Policy> {
  const p = await deps.policies.policyFor(key);
  if (!p) throw new InvalidRequestError("NoPolicy", `[keyrotor] [rotation] ${key.keyId} has no policy`);
  return p;
}

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO instant");
const id = z.string().min(1).max(512);

// ---- loadRotationContext ------------------------------------------------------------------------

export const LoadContextInput = z.object({ keyId: id });
export interface RotationContextView {
  keyId: string;
  kind: KeyKind;
  tenant: string;
  primaryVersion?: string;
  versions: { version: string; state: VersionState; createdAt: string; demotedAt?: string }[];
  policy: { maxAttempts: number; overlapMs: number; retainForMs: number; rollbackWindowMs: number; revokeOld: boolean };
}

export async function loadRotationContext(deps: RotationDeps, input: z.infer<typeof LoadContextInput>): Promise<RotationContextView> {
  const parsed = parseKeyId(input.keyId);
  // A tenant's DEK enters the inventory with its first rotation.
  const key = parsed.kind === "dek"
    ? ((await deps.inventory.get(input.keyId))?.key ?? { keyId: input.keyId, kind: "dek" as const, tenant: parsed.name, versions: [] })
    : (await loadKey(deps, input.keyId)).key;
  const policy = await policyOf(deps, key);
  return {
    keyId: key.keyId, kind: key.kind, tenant: key.tenant,
    ...(key.primaryVersion ? { primaryVersion: key.primaryVersion } : {}),
    versions: key.versions.map((v) => ({ version: v.version, state: v.state, createdAt: v.createdAt, ...(v.demotedAt ? { demotedAt: v.demotedAt } : {}) })),
    policy: {
      maxAttempts: policy.maxAttempts, ...dualRunningMs(policy, key.kind),
      rollbackWindowMs: durationMs(policy.rollbackWindow), revokeOld: policy.revokeOld,
    },
  };
}

// ---- recordStep: one ledger entry and its event -------------------------------------------------

export const RecordStepInput = z.object({
  rotationId: id,
  keyId: id,
  /** Unique within the rotation; entryId = rotationId#step, so a replayed step writes nothing twice. */
  step: z.string().min(1).max(128),
  type: z.enum(LEDGER_ENTRY_TYPES),
  event: z.enum(ROTATION_EVENT_TYPES).optional(),
  phase: z.string().optional(),
  trigger: z.enum(["schedule", "expiry-event", "manual", "emergency"]).optional(),
  actor: z.string().min(1),
  reason: z.string().optional(),
  versionBefore: z.string().optional(),
  versionAfter: z.string().optional(),
  counts: z.record(z.string(), z.number()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  at: iso,
});
export type RecordStep = z.infer<typeof RecordStepInput>;

export function entryIdFor(rotationId: string, step: string): string {
  return `${rotationId}#${step}`;
}

export async function recordStep(deps: RotationDeps, input: RecordStep): Promise<{ seq: number }> {
  const entry = await deps.ledger.append({
    keyId: input.keyId, entryId: entryIdFor(input.rotationId, input.step), type: input.type, rotationId: input.rotationId,
    actor: input.actor, at: input.at,
    ...(input.trigger ? { trigger: input.trigger } : {}),
    ...(input.reason ? { reason: input.reason } : {}),
    ...(input.versionBefore ? { versionBefore: input.versionBefore } : {}),
    ...(input.versionAfter ? { versionAfter: input.versionAfter } : {}),
    ...(input.counts ? { counts: input.counts } : {}),
    ...(input.error ? { error: input.error } : {}),
    ...(input.details || input.phase ? { details: { ...(input.details ?? {}), ...(input.phase ? { phase: input.phase } : {}) } } : {}),
  });
  if (input.event) {
    const row = await deps.inventory.get(input.keyId);
    const kind = parseKeyId(input.keyId).kind;
    const phase = (input.type === "Failed" ? input.details?.failedPhase : input.phase) as RotationPhase | undefined;
    const family = input.error ? familyTag(input.error.message) : undefined;
    // A broken lock is about the rotation that died holding it; the one that broke it is named.
    const previousOwner = input.event === "LockBroken" ? input.details?.previousOwner : undefined;
    const { guidance, severity } = responderGuidance({
      type: input.event, keyId: input.keyId, kind, rotationId: typeof previousOwner === "string" ? previousOwner : input.rotationId, ...(phase ? { phase } : {}),
      ...(input.error ? { error: { code: input.error.code, ...(family ? { family } : {}) } } : {}),
      details: { ...(input.details ?? {}), ...(input.counts ?? {}), ...(previousOwner !== undefined ? { brokenBy: input.rotationId } : {}) },
    });
    await deps.events.publish({
      type: input.event, keyId: input.keyId, kind, tenant: row?.key.tenant ?? "unknown", rotationId: input.rotationId,
      ...(input.phase ? { phase: input.phase as RotationPhase } : {}),
      // The step is unique within the rotation, so a replayed or retried step yields the same id.
      severity, messageId: eventMessageId(input.rotationId, input.event, input.step),
      keyState: row
        ? { ...(row.key.primaryVersion ? { primaryVersion: row.key.primaryVersion } : {}), versions: row.key.versions.map((v) => ({ version: v.version, state: v.state })) }
        : {},
      guidance, at: input.at,
      ...(input.details || input.counts ? { details: { ...(input.details ?? {}), ...(input.counts ?? {}) } } : {}),
    });
  }
  return { seq: entry.seq };
}

// ---- createKeyVersion / createSecretVersion -----------------------------------------------------

export const CreateVersionInput = z.object({
  rotationId: id, keyId: id, at: iso,
  /** Provider secrets (lib/secrets): the flow's first call only picks the slot and fingerprints it;
   * the second carries that answer from history, so a crash between regenerate and store resumes. */
  prepare: z.boolean().optional(),
  prepared: z.object({ slot: z.string().min(1).max(128), before: z.string().max(64).optional(), version: z.string().max(64).optional() }).optional(),
  /** An emergency may regenerate a slot still inside its overlap. */
  emergency: z.boolean().optional(),
});

export async function createKeyVersion(deps: RotationDeps, input: z.infer<typeof CreateVersionInput>): Promise<{ version: string; reused: boolean }> {
  const { kind, vault, name } = vaultAndName(input.keyId);
  if (kind !== "kek" && kind !== "signing") throw new InvalidRequestError("WrongKind", `[keyrotor] [rotation] ${input.keyId} is not a Key Vault key`);
  const { key } = await loadKey(deps, input.keyId);
  const policy = await policyOf(deps, key);
  // Check before act: a retried or replayed step finds the version it made before.
  const existing = (await deps.vault.listKeyVersions(vault, name)).find((v) => v.tags.rotationId === input.rotationId);
  if (existing) return { version: existing.version, reused: true };
  const expiresOn = addIso(input.at, policy.expiresAfter);
  return deps.vault.createKeyVersion(vault, name, { rotationId: input.rotationId, purpose: kind === "kek" ? "wrap" : "sign", ...(expiresOn ? { expiresOn } : {}) });
}

/** The prepare call's answer (provider secrets: the slot and its fingerprint; otherwise nothing). */
export type SecretPrepared = { slot?: string; before?: string; version?: string };

export async function createSecretVersion(deps: RotationDeps, input: z.infer<typeof CreateVersionInput>): Promise<{ version: string; reused: boolean; slot?: string } | SecretPrepared> {
  const { kind, vault, name } = vaultAndName(input.keyId);
  if (kind !== "secret") throw new InvalidRequestError("WrongKind", `[keyrotor] [rotation] ${input.keyId} is not a secret`);
  const { key } = await loadKey(deps, input.keyId);
  const policy = await policyOf(deps, key);
  const versions = await deps.vault.listSecretVersions(vault, name);
  const existing = policy.secret?.provider ? undefined : versions.find((v) => v.tags.rotationId === input.rotationId);
  if (existing) return input.prepare ? {} : { version: existing.version, reused: true, ...(existing.tags.slot ? { slot: existing.tags.slot } : {}) };
  const expiresOn = addIso(input.at, policy.expiresAfter);
  const target = policy.secret?.provider;
  if (target) {
    return providerSecretVersion(deps.vault, deps.secrets.credentials, {
      vault, name, rotationId: input.rotationId, key, spec: target, emergency: input.emergency ?? false,
      overlapEnded: new Set(retirementCandidates(key.versions, input.at, dualRunningMs(policy, "secret").overlapMs).map((v) => v.version)),
      ...(expiresOn ? { expiresOn } : {}), ...(input.prepare ? { prepare: true } : {}), ...(input.prepared ? { prepared: input.prepared } : {}),
    });
  }
  if (input.prepare) return {}; // generated secrets: nothing to prepare
  const spec = policy.secret ?? DEFAULT_SECRET;
  const generator = deps.secrets.generators[spec.encoding];
  if (!generator) throw new InvalidRequestError("UnknownSecretGenerator", `[keyrotor] [rotation] no secret generator for encoding "${spec.encoding}"`, { field: "secret.encoding" });
  return deps.vault.setSecret(vault, name, generator.generate(spec.length), { rotationId: input.rotationId, ...(expiresOn ? { expiresOn } : {}) });
}

// ---- promoteVersion -----------------------------------------------------------------------------

export const PromoteInput = z.object({ rotationId: id, keyId: id, version: z.string().min(1), at: iso, rollback: z.boolean().optional() });

/** Moves the primary pointer in one ETag-guarded write (the label move of the AWS template);
 * the previous primary becomes secondary. Promoting the current primary changes nothing. */
export async function promoteVersion(deps: RotationDeps, input: z.infer<typeof PromoteInput>): Promise<{ previousPrimary?: string; changed: boolean }> {
  const { key, etag } = await loadKey(deps, input.keyId);
  if (key.primaryVersion === input.version) {
    const prev = input.rollback ? undefined : previousOf(key.versions, input.version);
    if (input.rollback) await rollBackTenantDek(deps, input.keyId, input.version);
    return { changed: false, ...(prev ? { previousPrimary: prev } : {}) };
  }
  const previousPrimary = key.primaryVersion;
  let next: ManagedKey;
  if (input.rollback) {
    // Exactly this version, only while it is secondary (never a retired or revoked one); the
    // primary steps down in its favour, with its demotion time.
    const target = rollbackTarget(key, { replaced: input.version });
    // A rollback restarts no cryptoperiod: "last rotated" goes back to the re-promoted version (its
    // creation, no later than its first promotion), or the planner would hide an overdue key.
    const { lastRotationId: _undone, ...demoted } = demote(key, previousPrimary ?? input.version, target.version, input.at);
    next = { ...demoted, lastRotatedAt: target.createdAt, ...(target.rotationId !== undefined ? { lastRotationId: target.rotationId } : {}) };
  } else {
    let base = key;
    if (!key.versions.some((v) => v.version === input.version)) {
      const { kind, vault, name } = vaultAndName(input.keyId);
      const list = kind === "secret" ? await deps.vault.listSecretVersions(vault, name) : await deps.vault.listKeyVersions(vault, name);
      const v = list.find((x) => x.version === input.version);
      if (!v) throw new InvariantViolationError("VersionMissing", `[keyrotor] [rotation] version ${input.version} of ${input.keyId} is not in the vault`);
      base = add(key, { version: v.version, state: previousPrimary === undefined ? "primary" : "secondary", createdAt: v.createdOn, rotationId: input.rotationId, ...(v.expiresOn ? { expiresAt: v.expiresOn } : {}) });
    }
    // The rule book refuses a retired or revoked version; the old primary records its demotion.
    next = { ...promote(base, input.version, input.at), lastRotatedAt: input.at, lastRotationId: input.rotationId };
  }
  // A DEK's primary lives in the DEK store (consumers resolve it there); the inventory mirrors it.
  if (input.rollback) await rollBackTenantDek(deps, input.keyId, input.version);
  await deps.inventory.put(next, etag);
  return { changed: true, ...(previousPrimary ? { previousPrimary } : {}) };
}

/** The version `version`'s promotion demoted (the one demoted last; legacy rows without
 * demotedAt: the newest secondary created before it), for a replayed promotion's answer. */
function previousOf(versions: readonly KeyVersion[], version: string): string | undefined {
  if (!versions.some((v) => v.version === version && v.state === "primary")) return undefined;
  return findRollbackTarget({ versions: [...versions] })?.version;
}

// ---- rewrap -------------------------------------------------------------------------------------

// The DEK fan-out's page of tenants lives in ./dekFanOut (one page per call, due ones only).
export { ListTenantsInput, listTenants } from "./dekFanOut";

// The rewrap range activity lives in ./rewrap (paced by its share of the vault budget).
export { RewrapRangeInput, rewrapRange, type RangeResult as RewrapRangeResult } from "./rewrap";

// The zero-reference count lives in ./dekCounts (in legs with a checkpoint when the caller pages).
export { CountReferencesInput, countReferences } from "./dekCounts";

// ---- disableVersion (retire / revoke) -----------------------------------------------------------

export const DisableVersionInput = z.object({ rotationId: id, keyId: id, version: z.string().min(1), state: z.enum(["retired", "revoked"]) });

/** Disables a version in the vault and records its state in the inventory. Never the primary. */
export async function disableVersion(deps: RotationDeps, input: z.infer<typeof DisableVersionInput>): Promise<{ changed: boolean }> {
  const { key, etag } = await loadKey(deps, input.keyId);
  // The rule book decides before anything is disabled: a refused change (the primary; retiring a
  // revoked version) touches neither the vault nor the inventory. A version the inventory never
  // knew (e.g. made outside keyrotor) is recorded in its new state.
  const base = key.versions.some((v) => v.version === input.version)
    ? key
    : add(key, { version: input.version, state: input.state, createdAt: new Date(0).toISOString() });
  const next = input.state === "retired" ? retire(base, input.version) : revoke(base, input.version);
  if (next === key) return { changed: false };
  const { kind, vault, name } = vaultAndName(input.keyId);
  if (kind === "secret") {
    // A provider secret's credential ends at its provider first (the old slot regenerated or its
    // login disabled); a failure there changes nothing here and the step is retried.
    const target = (await deps.policies.policyFor(key))?.secret?.provider;
    if (target) await retireProviderSlot(deps.vault, deps.secrets.credentials, { vault, name, key, spec: target, version: input.version });
    await deps.vault.updateSecretVersion(vault, name, input.version, { enabled: false });
  }
  else await deps.vault.updateKeyVersion(vault, name, input.version, { enabled: false });
  await deps.inventory.put(next, etag);
  return { changed: true };
}

// ---- DEK ----------------------------------------------------------------------------------------

export const RotateTenantDekInput = z.object({ rotationId: id, tenant: z.string().min(1), at: iso, kekKeyId: id.optional() });

/** Generates the tenant's new DEK, wraps it under the KEK's primary version and stores it as the
 * tenant's primary; the old one becomes secondary. The plaintext exists only inside this call. For
 * a KEK with branch keys (`hierarchy` tells) the new DEK is a format-2 DEK under the tenant's branch
 * key instead: a DEK rotation must not take a tenant out of the hierarchy. */
export async function rotateTenantDek(deps: RotationDeps, input: z.infer<typeof RotateTenantDekInput>, hierarchy?: HierarchyRuntime): Promise<{ dekVersion: string; previous?: string; reused: boolean; kekVersion: string }> {
  const deks = await deps.deks.tenantDeks(input.tenant);
  // The tenant's format-2 DEKs and primary pointer, read once: the write below reads neither again.
  const tenantRows = hierarchy ? await hierarchyTenant(hierarchy, input.tenant) : undefined;
  const branched = tenantRows?.deks ?? [];
  const done = deks.find((d) => d.rotationId === input.rotationId);
  const primary = deks.find((d) => d.state === "primary" && d.rotationId !== input.rotationId);
  if (done) {
    await recordDekInventory(deps, input.tenant, dekVersionLabel(done.dekVersion), input);
    return { dekVersion: dekVersionLabel(done.dekVersion), reused: true, kekVersion: done.kekVersion, ...(primary ? { previous: dekVersionLabel(primary.dekVersion) } : {}) };
  }
  // The tenant's previous DEK version: the highest of either format below `v` (format 2 is read first).
  const previousBelow = (v: number): { previous?: string } => {
    const below = [...deks, ...branched].map((d) => d.dekVersion).filter((x) => x < v);
    return below.length ? { previous: dekVersionLabel(Math.max(...below)) } : {};
  };
  // The newest: an attempt whose DEK had been lost made another version above it.
  const doneBranched = branched.filter((d) => d.rotationRun === input.rotationId).sort((a, b) => b.dekVersion - a.dekVersion)[0];
  // A retry after the format-2 DEK was written: the same version, nothing made twice, once it is
  // under a live primary branch-key version (re-wrapped there if its own was demoted since). One
  // whose version was destroyed (the earlier attempt ended between its write and its check) can no
  // longer be opened and is not reported: a new version is made above it.
  const settled = doneBranched && hierarchy ? await settleRotatedDek(hierarchy, doneBranched) : undefined;
  if (doneBranched && settled) {
    await recordDekInventory(deps, input.tenant, dekVersionLabel(doneBranched.dekVersion), input);
    return { dekVersion: dekVersionLabel(doneBranched.dekVersion), reused: true, kekVersion: settled.kekVersion, ...previousBelow(doneBranched.dekVersion) };
  }
  const branchedPrimary = branched.find((d) => d.state === "primary");
  const namedKek = input.kekKeyId ?? branchedPrimary?.kekKeyId ?? primary?.kekKeyId;
  if (!namedKek) throw new InvalidRequestError("NoKek", `[keyrotor] [rotation] tenant ${input.tenant} has no DEK yet; name the KEK to wrap it under`, { field: "kekKeyId" });
  const { key: kek } = await loadKey(deps, namedKek);
  // DEKs name their KEK by the inventory's (canonical) keyId, whatever spelling was asked for:
  // reference counts before a retirement match it exactly.
  const kekKeyId = kek.keyId;
  if (!kek.primaryVersion) throw new InvariantViolationError("KekWithoutPrimary", `[keyrotor] [rotation] ${kekKeyId} has no primary version`);
  const guard = (w: { kekKeyId: string; kekVersion: string }) => assertKekVersionUsable(deps, w.kekKeyId, w.kekVersion);
  if (hierarchy && (await dekGoesUnderBranchKeys(hierarchy, kekKeyId, branched))) {
    const n = [...deks, ...branched].reduce((max, d) => Math.max(max, d.dekVersion), 0) + 1;
    await guard({ kekKeyId, kekVersion: kek.primaryVersion });
    const made = await rotateHierarchyDek(hierarchy, { tenant: input.tenant, dekVersion: n, kekKeyId, kekVersion: kek.primaryVersion, rotationId: input.rotationId, at: input.at, ...(tenantRows ? { read: tenantRows } : {}) });
    await recordDekInventory(deps, input.tenant, dekVersionLabel(n), input);
    return { dekVersion: dekVersionLabel(n), reused: false, kekVersion: made.kekVersion, ...previousBelow(n) };
  }
  const { vault, name } = vaultAndName(kekKeyId);
  const n = deks.reduce((max, d) => Math.max(max, d.dekVersion), 0) + 1;
  const dekVersion = dekVersionLabel(n);
  // Always the KEK's current primary, also on a retry: the store replaces an earlier attempt's
  // intent wrapped under another KEK version, and the guard re-checks right before promotion.
  await guard({ kekKeyId, kekVersion: kek.primaryVersion });
  const plaintext = randomBytes(32);
  let next: DekRecord;
  try {
    const wrapped = await deps.vault.wrapKey(vault, name, kek.primaryVersion, plaintext);
    next = dekRecord({ tenant: input.tenant, dekVersion: n, kekKeyId, kekVersion: kek.primaryVersion, wrapped, createdAt: input.at });
    // Signed (one remote sign) when a signing key is configured: a row anyone with the KEK's public
    // key could write is otherwise indistinguishable from ours (lib/envelope/flatDekAuth.ts).
    if (deps.flatDekAuth) next = await deps.flatDekAuth.sign(next, plaintext);
    // Before it becomes primary, the DEK as stored must decrypt through lib/envelope a probe it
    // encrypted (lib/validation); a failure records the verdict and stops here, nothing promoted.
    await dekGate(deps, kekPortOver(deps.vault, vault, name), { rotationId: input.rotationId, keyId: `dek:${input.tenant}`, actor: "system:orchestrator", at: input.at }, next, plaintext, deps.flatDekAuth);
  } finally {
    plaintext.fill(0);
  }
  await deps.deks.rotatePrimary({ ...next, rotationId: input.rotationId }, guard);
  await recordDekInventory(deps, input.tenant, dekVersion, input);
  return { dekVersion, reused: false, kekVersion: kek.primaryVersion, ...(primary ? { previous: dekVersionLabel(primary.dekVersion) } : {}) };
}

async function recordDekInventory(deps: RotationDeps, tenant: string, dekVersion: string, input: { rotationId: string; at: string }): Promise<void> {
  const keyId = `dek:${tenant}`;
  const row = await deps.inventory.get(keyId);
  const key: ManagedKey = row?.key ?? { keyId, kind: "dek", tenant, versions: [] };
  if (key.primaryVersion === dekVersion) return;
  const known = key.versions.some((v) => v.version === dekVersion);
  const base = known ? key : add(key, { version: dekVersion, state: key.primaryVersion === undefined ? "primary" : "secondary", createdAt: input.at, rotationId: input.rotationId });
  await deps.inventory.put({ ...promote(base, dekVersion, input.at), lastRotatedAt: input.at, lastRotationId: input.rotationId }, row?.etag);
}

// ---- signing ------------------------------------------------------------------------------------

export const PublishJwksInput = z.object({ keyId: id, include: z.array(z.string()).optional() });

/** JWKS = primary + retained (secondary) versions, plus any version named in `include` (a new
 * version published before it signs, so verifiers already know it). */
export async function publishJwks(deps: RotationDeps, input: z.infer<typeof PublishJwksInput>): Promise<{ keys: number }> {
  const { vault, name } = vaultAndName(input.keyId);
  const { key } = await loadKey(deps, input.keyId);
  const live = key.versions.filter((v) => v.state === "primary" || v.state === "secondary").map((v) => v.version);
  const versions = [...new Set([...(input.include ?? []), ...live])];
  const keys = await Promise.all(versions.map((v) => deps.vault.publicJwk(vault, name, v)));
  await deps.jwks.put(vault, name, { keys });
  return { keys: keys.length };
}

export const SetKeyOpsInput = z.object({ keyId: id, version: z.string().min(1), keyOps: z.array(z.enum(["sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"])).min(1) });
export async function setKeyOps(deps: RotationDeps, input: z.infer<typeof SetKeyOpsInput>): Promise<{ changed: boolean }> {
  const { vault, name } = vaultAndName(input.keyId);
  const current = (await deps.vault.listKeyVersions(vault, name)).find((v) => v.version === input.version);
  if (!current) throw new InvariantViolationError("VersionMissing", `[keyrotor] [rotation] version ${input.version} of ${input.keyId} is not in the vault`);
  const same = current.keyOps && current.keyOps.length === input.keyOps.length && input.keyOps.every((o) => current.keyOps!.includes(o));
  if (same) return { changed: false };
  await deps.vault.updateKeyVersion(vault, name, input.version, { keyOps: input.keyOps });
  return { changed: true };
}

// ---- ledger seal --------------------------------------------------------------------------------

export const SealInput = z.object({ rotationId: z.string().optional() });
export async function sealLedger(deps: RotationDeps, input: z.infer<typeof SealInput> = {}): Promise<{ sealed: boolean }> {
  if (!deps.sealer) return { sealed: false };
  await deps.sealer.seal({ reason: "rotation", ...(input.rotationId ? { rotationId: input.rotationId } : {}) });
  return { sealed: true };
}
