// In-memory adapters of the rotation ports, with real crypto (RSA-OAEP-256 wrap, ECDSA keys) so
// that "every DEK unwraps to its original plaintext" means the same thing here as on the peer.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomUUID, type KeyObject } from "node:crypto";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { canonicalKeyId, checkCanonicalKeyId, vaultObjectOf, vaultObjectTaken, type ManagedKey, type VersionState } from "../domain/keys";
import { policyKey, validatePolicy, type Policy } from "../domain/policy";
import { add, checkTransition, dekVersionView, demote, promote, stateChanges, type VersionedKey } from "../domain/versions";
import type {
  ExpectedEtag, InventoryPort, JwksDocument, JwksPort, KeyVaultPort, Ledger, PolicyPort, PublicJwk, RotationEvent,
  StoredKey, StoredPolicy, VaultVersion,
} from "../ports";
import { MemoryEventPublisher, type MemoryPublisherOptions } from "../events";
import { memoryLedger } from "../ledger";
import { checkManagedKey, checkPolicyAttachment } from "../stores/inventory";
import { checkPublicJwks } from "../stores/jwksStore";
import { policyGoverning } from "../stores/policyStore";
import { checkDekRecord, type DekRecord, type DekWrap, type StoredDek } from "../envelope/dekRecord";
import type { DekPort, DekRewrapCounts, KekVersionGuard } from "../ports";

const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" } as const;

interface MemKeyVersion extends VaultVersion {
  privateKey?: KeyObject;
  publicKey: KeyObject;
}
interface MemSecretVersion extends VaultVersion {
  value: string;
}

function hexVersion(): string {
  return randomUUID().replace(/-/g, "");
}

export class MemoryKeyVault implements KeyVaultPort {
  readonly keys = new Map<string, MemKeyVersion[]>();
  readonly secrets = new Map<string, MemSecretVersion[]>();
  /** Counts remote calls, so tests can see what went to the "vault". */
  readonly calls = { create: 0, unwrap: 0 };
  constructor(private readonly now: () => Date = () => new Date()) {}

  private keyVersions(vault: string, name: string): MemKeyVersion[] {
    const list = this.keys.get(`${vault}/${name}`);
    if (!list) throw new InvalidRequestError("KeyNotFound", `[keyrotor] [vault] key ${vault}/${name} not found`, { status: 404 });
    return list;
  }
  private keyVersion(vault: string, name: string, version: string): MemKeyVersion {
    const v = this.keyVersions(vault, name).find((x) => x.version === version);
    if (!v) throw new InvalidRequestError("KeyVersionNotFound", `[keyrotor] [vault] key ${vault}/${name}/${version} not found`, { status: 404 });
    return v;
  }

  /** Test setup: a key with one version (no rotationId tag). */
  seedKey(vault: string, name: string, purpose: "wrap" | "sign" = "wrap"): string {
    const list = this.keys.get(`${vault}/${name}`) ?? [];
    this.keys.set(`${vault}/${name}`, list);
    const v = this.newKeyVersion(purpose, {}, undefined);
    list.push(v);
    return v.version;
  }

  private newKeyVersion(purpose: "wrap" | "sign", tags: Record<string, string>, expiresOn: string | undefined): MemKeyVersion {
    const pair = purpose === "wrap"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
    return {
      version: hexVersion(), enabled: true, createdOn: this.now().toISOString(), tags,
      keyOps: purpose === "wrap" ? ["wrapKey", "unwrapKey"] : ["sign", "verify"],
      privateKey: pair.privateKey, publicKey: pair.publicKey,
      ...(expiresOn ? { expiresOn } : {}),
    };
  }

  async createKeyVersion(vault: string, name: string, opts: { rotationId: string; expiresOn?: string; purpose: "wrap" | "sign" }): Promise<{ version: string; reused: boolean }> {
    const list = this.keyVersions(vault, name);
    // Any version with the tag, not only the newest: a version made by hand since must not make a
    // retried step create a second one (as lib/vault/keyVault.ts does).
    const tagged = list.find((v) => v.tags.rotationId === opts.rotationId);
    if (tagged) return { version: tagged.version, reused: true };
    this.calls.create++;
    const v = this.newKeyVersion(opts.purpose, { rotationId: opts.rotationId }, opts.expiresOn);
    list.push(v);
    return { version: v.version, reused: false };
  }
  async listKeyVersions(vault: string, name: string): Promise<VaultVersion[]> {
    return this.keyVersions(vault, name).map(({ privateKey: _p, publicKey: _k, ...v }) => ({ ...v, tags: { ...v.tags }, keyOps: [...(v.keyOps ?? [])] }));
  }
  async updateKeyVersion(vault: string, name: string, version: string, patch: { enabled?: boolean; keyOps?: string[] }): Promise<void> {
    const v = this.keyVersion(vault, name, version);
    if (patch.enabled !== undefined) v.enabled = patch.enabled;
    if (patch.keyOps) v.keyOps = [...patch.keyOps];
  }
  async wrapKey(vault: string, name: string, version: string, plaintext: Buffer): Promise<Buffer> {
    const v = this.keyVersion(vault, name, version);
    return publicEncrypt({ key: v.publicKey, ...OAEP }, plaintext);
  }
  async unwrapKey(vault: string, name: string, version: string, wrapped: Buffer): Promise<Buffer> {
    this.calls.unwrap++;
    const v = this.keyVersion(vault, name, version);
    if (!v.enabled || !v.privateKey) throw new InvalidRequestError("KeyDisabled", `[keyrotor] [vault] key ${vault}/${name}/${version} is disabled`, { status: 403 });
    try {
      return privateDecrypt({ key: v.privateKey, ...OAEP }, wrapped);
    } catch (err) {
      // Key Vault answers 400 BadParameter for a ciphertext that does not decrypt.
      throw new InvalidRequestError("UnwrapFailed", `[keyrotor] [vault] unwrap under ${vault}/${name}/${version} failed`, { cause: err });
    }
  }
  async publicJwk(vault: string, name: string, version: string): Promise<PublicJwk> {
    const v = this.keyVersion(vault, name, version);
    const jwk = v.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
    return { ...jwk, kty: String(jwk.kty), kid: `https://${vault}.vault.azure.net/keys/${name}/${version}` };
  }
  async setSecret(vault: string, name: string, value: string, opts: { rotationId: string; expiresOn?: string; slot?: string }): Promise<{ version: string; reused: boolean }> {
    const list = this.secrets.get(`${vault}/${name}`) ?? [];
    this.secrets.set(`${vault}/${name}`, list);
    const latest = list[list.length - 1];
    if (latest?.tags.rotationId === opts.rotationId) return { version: latest.version, reused: true };
    const v: MemSecretVersion = { version: hexVersion(), enabled: true, createdOn: this.now().toISOString(), tags: { rotationId: opts.rotationId, ...(opts.slot ? { slot: opts.slot } : {}) }, value, ...(opts.expiresOn ? { expiresOn: opts.expiresOn } : {}) };
    list.push(v);
    return { version: v.version, reused: false };
  }
  async listSecretVersions(vault: string, name: string): Promise<VaultVersion[]> {
    return (this.secrets.get(`${vault}/${name}`) ?? []).map(({ value: _v, ...v }) => ({ ...v, tags: { ...v.tags } }));
  }
  async updateSecretVersion(vault: string, name: string, version: string, patch: { enabled: boolean }): Promise<void> {
    const v = (this.secrets.get(`${vault}/${name}`) ?? []).find((x) => x.version === version);
    if (!v) throw new InvalidRequestError("SecretVersionNotFound", `[keyrotor] [vault] secret ${vault}/${name}/${version} not found`, { status: 404 });
    v.enabled = patch.enabled;
  }
  /** Test helper: a secret's value (the scan test looks for these everywhere else). */
  secretValue(vault: string, name: string, version: string): string | undefined {
    return (this.secrets.get(`${vault}/${name}`) ?? []).find((x) => x.version === version)?.value;
  }
}

/** A stored id's vault object; undefined for DEKs and ids that are not keyIds. */
function objectOf(keyId: string): string | undefined {
  try {
    return vaultObjectOf(keyId);
  } catch {
    return undefined;
  }
}

/** The inventory in memory, with every refusal of the Table adapter (lib/stores/inventory.ts): keys
 * checked as a whole, new rows canonical, one managed key per vault object, a replacement only a
 * state the rule book reaches, a policy attached only if `policies` has it for the key's tenant and
 * kind. */
export class MemoryInventory implements InventoryPort {
  readonly rows = new Map<string, StoredKey>();
  constructor(private readonly policies?: Pick<PolicyPort, "get" | "tenantsWith">) {}

  /** By keyId in any spelling, as the Table adapter reads (canonical row first, then this spelling). */
  async get(keyId: string): Promise<StoredKey | undefined> {
    let canonical: string | undefined;
    try {
      canonical = canonicalKeyId(keyId);
    } catch {
      canonical = undefined;
    }
    const row = (canonical !== undefined ? this.rows.get(canonical) : undefined) ?? this.rows.get(keyId);
    return row ? { key: structuredClone(row.key), etag: row.etag } : undefined;
  }

  async *list(opts: { tenant?: string } = {}): AsyncIterable<StoredKey> {
    for (const id of [...this.rows.keys()].sort()) {
      const row = this.rows.get(id);
      if (row && (opts.tenant === undefined || row.key.tenant === opts.tenant)) yield { key: structuredClone(row.key), etag: row.etag };
    }
  }

  async create(key: ManagedKey): Promise<StoredKey> {
    return { key: structuredClone(key), etag: await this.put(key, undefined) };
  }

  async put(key: ManagedKey, etag: string | undefined): Promise<string> {
    if (etag === undefined) checkCanonicalKeyId(key.keyId);
    const previous = etag !== undefined ? await this.get(key.keyId) : undefined;
    if (previous && previous.etag !== etag) throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [inventory] ${key.keyId} changed since it was read (ETag)`);
    checkManagedKey(key);
    if (previous) checkTransition(previous.key, key);
    if (this.policies && key.policyId !== undefined && previous?.key.policyId !== key.policyId) await checkPolicyAttachment(this.policies, key);
    if (etag === undefined) {
      if (this.rows.has(key.keyId)) throw new RotationConflictError("EntityAlreadyExists", `[keyrotor] [inventory] ${key.keyId} exists`);
      const object = vaultObjectOf(key.keyId);
      const other = object === undefined ? undefined : [...this.rows.keys()].find((id) => id !== key.keyId && objectOf(id) === object);
      if (object !== undefined && other !== undefined) throw vaultObjectTaken(object, other, key.keyId);
    } else if (!previous) {
      throw new InvalidRequestError("KeyNotFound", `[keyrotor] [inventory] ${key.keyId} is not in the inventory`, { status: 404 });
    }
    const next = randomUUID();
    this.rows.set(key.keyId, { key: structuredClone(key), etag: next });
    return next;
  }
}

/** The DEK table in memory, with the Table adapter's rules (lib/orchestration/tableDeks.ts): records
 * as stored and checked, rows in dekId order, one primary per tenant decided by the rule book,
 * all-or-nothing If-Match rewrites. */
export class MemoryDekStore implements DekPort {
  /** A DEK changed meanwhile is reported (`changed`), not recomputed: the rewrap reads its page again. */
  readonly resolvesConflicts = false;
  /** tenant → dekId → row */
  readonly partitions = new Map<string, Map<string, StoredDek>>();
  private part(tenant: string): Map<string, StoredDek> {
    let p = this.partitions.get(tenant);
    if (!p) {
      p = new Map<string, StoredDek>();
      this.partitions.set(tenant, p);
    }
    return p;
  }
  /** Test setup: stores a record as it is, checked as the Table adapter checks it. */
  insert(record: DekRecord): void {
    this.part(record.tenant).set(record.dekId, { ...checkDekRecord(record), etag: randomUUID() });
  }
  /** Test helper (not on the port): every tenant, sorted. */
  async listTenants(): Promise<string[]> {
    return [...this.partitions.keys()].sort();
  }
  async tenantsPage(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }> {
    // An opaque continuation, as Table Storage's: an offset, never a tenant name.
    const all = await this.listTenants();
    const from = opts.continuation === undefined ? 0 : Number(opts.continuation);
    const next = from + opts.limit;
    return { tenants: all.slice(from, next), ...(next < all.length ? { continuation: String(next) } : {}) };
  }
  async scanRange(tenant: string, opts: { continuation?: string; limit: number; notUnder?: DekWrap }): Promise<{ records: StoredDek[]; continuation?: string }> {
    const rows = [...this.part(tenant).values()]
      .filter((r) => !opts.notUnder || r.kekKeyId !== opts.notUnder.kekKeyId || r.kekVersion !== opts.notUnder.kekVersion)
      .sort((a, b) => (a.dekId < b.dekId ? -1 : a.dekId > b.dekId ? 1 : 0));
    const start = opts.continuation === undefined ? 0 : rows.findIndex((r) => r.dekId > opts.continuation!);
    const page = start < 0 ? [] : rows.slice(start, start + opts.limit);
    const last = page[page.length - 1];
    const more = start >= 0 && start + opts.limit < rows.length;
    return { records: page.map((r) => ({ ...r })), ...(more && last ? { continuation: last.dekId } : {}) };
  }
  /** One transaction: all written, or none when any DEK changed since it was read. */
  async rewrapBatch(tenant: string, deks: readonly StoredDek[], target: DekWrap, wrapped: ReadonlyMap<string, Uint8Array>): Promise<DekRewrapCounts> {
    const p = this.part(tenant);
    const counts: DekRewrapCounts = { rewrapped: 0, skipped: 0, conflicts: 0, missing: 0, changed: 0 };
    const todo = deks.filter((d) => wrapped.has(d.dekId));
    const changed = todo.filter((d) => p.get(d.dekId)?.etag !== d.etag).length;
    if (changed > 0) return { ...counts, conflicts: changed, changed };
    for (const d of todo) {
      const row = p.get(d.dekId)!;
      p.set(d.dekId, { ...row, kekKeyId: target.kekKeyId, kekVersion: target.kekVersion, alg: target.alg ?? row.alg, wrapped: Buffer.from(wrapped.get(d.dekId)!).toString("base64url"), etag: randomUUID() });
    }
    return { ...counts, rewrapped: todo.length };
  }
  async countByKekVersion(kekKeyId: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const p of this.partitions.values()) {
      for (const r of p.values()) if (r.kekKeyId === kekKeyId) counts[r.kekVersion] = (counts[r.kekVersion] ?? 0) + 1;
    }
    return counts;
  }
  /** In memory the whole count is one leg (no continuation): what the timer's pre-check reads. */
  async countByKekVersionPage(kekKeyId: string): Promise<{ byVersion: Record<string, number>; continuation?: string }> {
    return { byVersion: await this.countByKekVersion(kekKeyId) };
  }
  async tenantDeks(tenant: string): Promise<StoredDek[]> {
    return [...this.part(tenant).values()].map((r) => ({ ...r }));
  }
  /** The tenant's DEKs as the rule book's versions of `dek:<tenant>` (by dekId, as DekStore does). */
  private view(tenant: string): VersionedKey {
    return dekVersionView(tenant, [...this.part(tenant).values()].map((r) => ({ version: r.dekId, state: r.state, createdAt: r.createdAt })));
  }
  /** Writes the states the rule book decided; rows whose state did not change keep their ETag. */
  private apply(tenant: string, changes: Map<string, VersionState>): void {
    const p = this.part(tenant);
    for (const [id, state] of changes) {
      const row = p.get(id);
      if (row) p.set(id, { ...row, state, etag: randomUUID() });
    }
  }
  async rotatePrimary(next: DekRecord & { rotationId: string }, guard?: KekVersionGuard): Promise<void> {
    const p = this.part(next.tenant);
    // Once per rotation, as the Table port's intent row makes it: a repeated step of a rotation
    // whose DEK is already in finds it and changes nothing.
    if ([...p.values()].some((r) => r.rotationId === next.rotationId)) return;
    checkDekRecord(next);
    await guard?.({ kekKeyId: next.kekKeyId, kekVersion: next.kekVersion });
    if (p.has(next.dekId)) throw new RotationConflictError("EntityAlreadyExists", `[keyrotor] [deks] ${next.tenant}/${next.dekId} exists`);
    // Decided by the rule book before anything is written: the new DEK is added beside the
    // current primary and promoted (the old primary steps down), so a tenant never ends with two
    // primary DEKs.
    const before = this.view(next.tenant);
    const version = { version: next.dekId, createdAt: next.createdAt, rotationId: next.rotationId };
    const after = before.primaryVersion === undefined
      ? add(before, { ...version, state: "primary" })
      : promote(add(before, { ...version, state: "secondary" }), next.dekId, next.createdAt);
    const changes = stateChanges(before, after);
    changes.delete(next.dekId);
    p.set(next.dekId, { ...next, state: "primary", etag: randomUUID() });
    this.apply(next.tenant, changes);
  }
  async rollbackPrimary(tenant: string, dekVersion: number, guard?: KekVersionGuard): Promise<{ moved: boolean }> {
    const p = this.part(tenant);
    const target = [...p.values()].find((r) => r.dekVersion === dekVersion);
    if (target?.state === "primary") return { moved: false };
    if (!target) {
      throw new InvalidRequestError("DekRollbackTargetUnavailable", `[keyrotor] [deks] DEK ${tenant}/v${dekVersion} is unknown; only a secondary DEK can become primary again`, { status: 409 });
    }
    // The rule book refuses a retired or revoked target (CannotPromote) before the guard runs.
    const before = this.view(tenant);
    const at = new Date().toISOString();
    const after = before.primaryVersion === undefined ? promote(before, target.dekId, at) : demote(before, before.primaryVersion, target.dekId, at);
    await guard?.({ kekKeyId: target.kekKeyId, kekVersion: target.kekVersion });
    this.apply(tenant, stateChanges(this.view(tenant), after));
    return { moved: true };
  }
}

/** Policies as data in memory, with the refusals of lib/stores/policyStore.ts: validated, ETag-guarded,
 * scoped by tenant; no policy is invented for a key that has none. */
export class MemoryPolicyStore implements PolicyPort {
  readonly rows = new Map<string, StoredPolicy>();
  constructor(private readonly now: () => Date = () => new Date()) {}

  async get(tenant: string, policyId: string): Promise<StoredPolicy | undefined> {
    const row = this.rows.get(policyKey(tenant, policyId));
    return row ? structuredClone(row) : undefined;
  }
  async *list(tenant?: string): AsyncIterable<StoredPolicy> {
    for (const row of [...this.rows.values()]) if (tenant === undefined || row.policy.tenant === tenant) yield structuredClone(row);
  }
  async all(): Promise<Policy[]> {
    return [...this.rows.values()].map((r) => structuredClone(r.policy));
  }
  async tenantsWith(policyId: string): Promise<string[]> {
    return [...this.rows.values()].filter((r) => r.policy.policyId === policyId).map((r) => r.policy.tenant);
  }
  async put(input: unknown, expected: ExpectedEtag): Promise<StoredPolicy> {
    const policy = validatePolicy(input, { now: this.now() });
    const k = policyKey(policy.tenant, policy.policyId);
    const current = this.rows.get(k);
    if (expected === undefined && current) throw new RotationConflictError("EntityAlreadyExists", `[keyrotor] [policies] ${k} exists`);
    if (expected !== undefined && expected !== "*") {
      if (!current) throw new InvalidRequestError("PolicyNotFound", `[keyrotor] [policies] ${k} does not exist; create it without an etag`, { status: 404 });
      if (current.etag !== expected) throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [policies] ${k} changed (ETag)`);
    }
    const row: StoredPolicy = { policy, etag: `W/"${randomUUID()}"`, updatedAt: this.now().toISOString() };
    this.rows.set(k, row);
    return structuredClone(row);
  }
  policyFor(key: ManagedKey): Promise<Policy | undefined> {
    return policyGoverning(this, key);
  }
}

/** The memory event publisher (lib/events MemoryEventPublisher: one copy per messageId, as Service
 * Bus duplicate detection keeps, failures recorded in `ledger` as NotificationFailed), with the
 * events delivered readable as the events published. */
export class MemoryEvents extends MemoryEventPublisher {
  constructor(ledger: Ledger = memoryLedger(), opts: MemoryPublisherOptions = {}) {
    super(ledger, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, ...opts });
  }
  /** Delivered events in order, duplicates dropped. */
  get published(): RotationEvent[] {
    return this.messages.map((m) => ({ ...m.body, messageId: m.messageId }));
  }
}

/** Vault names are case-insensitive, as the Table adapter keys them. */
export class MemoryJwks implements JwksPort {
  readonly docs = new Map<string, JwksDocument>();
  async put(vault: string, key: string, jwks: JwksDocument): Promise<void> {
    checkPublicJwks(jwks);
    this.docs.set(`${vault.toLowerCase()}/${key}`, structuredClone({ keys: jwks.keys }));
  }
  async get(vault: string, key: string): Promise<JwksDocument | undefined> {
    const d = this.docs.get(`${vault.toLowerCase()}/${key}`);
    return d ? structuredClone(d) : undefined;
  }
}

