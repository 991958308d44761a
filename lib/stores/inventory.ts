// The key inventory in Table Storage: one row per managed key (PartitionKey = escaped keyId,
// RowKey = "key"), versions as JSON. Point reads by keyId are what rotations need; listing by
// tenant filters on the tenant column. Every write is ETag-guarded: an explicit stale etag is a
// RotationConflictError; the helpers (setPrimary, addVersion, ...) without an etag re-read and
// retry, and are idempotent, so an activity can repeat them safely.
// keyIds are stored in canonical spelling (canonicalKeyId) and read in any; one Key Vault object is
// one managed key: creating a key first claims its vault object (a "claim" row in the object's own
// partition, created or taken over atomically), so no second kind or spelling can register it.
import { odata, type TableClient } from "@azure/data-tables";
import type { Config } from "../config";
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { canonicalKeyId, checkCanonicalKeyId, parseKeyId, vaultObjectOf, vaultObjectTaken, VERSION_STATES, type KeyVersion, type ManagedKey, type VersionState } from "../domain/keys";
import { add, checkTransition, checkVersions, promote, retire, revoke, VersionRuleError } from "../domain/versions";
import type { InventoryPort, PolicyPort, StoredKey } from "../ports";
import { ensureTable, getRowOrUndefined, escapeKey, statusOf, tableClient, translateTableError } from "./tables";
import { policyStoreFromConfig } from "./policyStore";

export type { StoredKey } from "../ports";

export interface KeyPage {
  items: StoredKey[];
  /** Opaque, JSON-safe; pass back for the next page. Undefined at the end. */
  continuation: string | undefined;
}

const ROW = "key";
/** RowKey of a vault object's claim row (PartitionKey = escaped `vault-object:<vault>/<name>`). */
const CLAIM = "claim";
/** A claim this old without its key row is abandoned (a creation takes seconds at most). */
const CLAIM_GRACE_MS = 5 * 60_000;
const TENANT = /^[A-Za-z0-9-]{1,127}$/;
/** A string property holds at most 32K UTF-16 characters; long version lists are split. */
const CHUNK = 30_000;
const MAX_CHUNKS = 15;

type KeyEntity = {
  partitionKey: string;
  rowKey: string;
  keyId: string;
  kind: string;
  tenant: string;
  policyId?: string;
  primaryVersion?: string;
  lastRotatedAt?: string;
  lastRotationId?: string;
  versionChunks: number;
} & Record<`versions${number}`, string>;

function invalid(code: string, field: string, message: string): InvalidRequestError {
  return new InvalidRequestError(code, `[keyrotor] [inventory] ${message}`, { field });
}

const isInstant = (s: unknown) => typeof s === "string" && !Number.isNaN(Date.parse(s));

/** Refuses a key whose fields contradict each other, naming the field. */
export function checkManagedKey(key: ManagedKey): void {
  const parsed = parseKeyId(key.keyId);
  if (parsed.kind !== key.kind) throw invalid("KeyInvalid", "kind", `${key.keyId} is a ${parsed.kind} keyId but kind is ${key.kind}`);
  if (!TENANT.test(key.tenant ?? "")) throw invalid("KeyInvalid", "tenant", `tenant must be 1-127 letters, digits or '-', got "${key.tenant}"`);
  if (parsed.kind === "dek" && parsed.name !== key.tenant) throw invalid("KeyInvalid", "tenant", `${key.keyId} is tenant ${parsed.name}'s DEK, not tenant ${key.tenant}'s`);
  if (key.lastRotatedAt !== undefined && !isInstant(key.lastRotatedAt)) throw invalid("KeyInvalid", "lastRotatedAt", "must be an ISO instant");
  const seen = new Set<string>();
  let primaries = 0;
  key.versions.forEach((v, i) => {
    if (!v.version || seen.has(v.version)) throw invalid("KeyInvalid", `versions.${i}.version`, `version "${v.version}" is empty or repeated`);
    seen.add(v.version);
    if (!VERSION_STATES.includes(v.state)) throw invalid("KeyInvalid", `versions.${i}.state`, `state must be one of ${VERSION_STATES.join(", ")}`);
    if (!isInstant(v.createdAt)) throw invalid("KeyInvalid", `versions.${i}.createdAt`, "must be an ISO instant");
    if (v.expiresAt !== undefined && !isInstant(v.expiresAt)) throw invalid("KeyInvalid", `versions.${i}.expiresAt`, "must be an ISO instant");
    if (v.state === "primary") {
      primaries++;
      if (key.primaryVersion !== v.version) throw invalid("KeyInvalid", "primaryVersion", `version ${v.version} is primary but primaryVersion is ${key.primaryVersion ?? "unset"}`);
    }
  });
  if (primaries > 1) throw invalid("KeyInvalid", "versions", "more than one version is primary");
  if (key.primaryVersion !== undefined && primaries === 0) throw invalid("KeyInvalid", "primaryVersion", `primaryVersion ${key.primaryVersion} is not a version in state primary`);
  key.versions.forEach((v, i) => {
    if (v.demotedAt !== undefined && !isInstant(v.demotedAt)) throw invalid("KeyInvalid", `versions.${i}.demotedAt`, "must be an ISO instant");
  });
  // The rest (exactly one primary once there are versions) is the version rule book's.
  checkVersions(key);
}

function toEntity(key: ManagedKey): KeyEntity {
  const json = JSON.stringify(key.versions);
  const chunks = Math.max(1, Math.ceil(json.length / CHUNK));
  if (chunks > MAX_CHUNKS) throw invalid("KeyTooLarge", "versions", `${key.keyId} has too many versions to store (${key.versions.length}); retire and prune old ones`);
  const e = {
    partitionKey: escapeKey(key.keyId),
    rowKey: ROW,
    keyId: key.keyId,
    kind: key.kind,
    tenant: key.tenant,
    versionChunks: chunks,
    ...(key.policyId !== undefined ? { policyId: key.policyId } : {}),
    ...(key.primaryVersion !== undefined ? { primaryVersion: key.primaryVersion } : {}),
    ...(key.lastRotatedAt !== undefined ? { lastRotatedAt: key.lastRotatedAt } : {}),
    ...(key.lastRotationId !== undefined ? { lastRotationId: key.lastRotationId } : {}),
  } as KeyEntity;
  for (let i = 0; i < chunks; i++) e[`versions${i}`] = json.slice(i * CHUNK, (i + 1) * CHUNK);
  return e;
}

function fromEntity(e: KeyEntity & { etag?: string }): StoredKey {
  let json = "";
  for (let i = 0; i < e.versionChunks; i++) json += e[`versions${i}`] ?? "";
  const key: ManagedKey = {
    keyId: e.keyId,
    kind: e.kind as ManagedKey["kind"],
    tenant: e.tenant,
    ...(e.policyId ? { policyId: e.policyId } : {}),
    ...(e.primaryVersion ? { primaryVersion: e.primaryVersion } : {}),
    versions: JSON.parse(json || "[]") as KeyVersion[],
    ...(e.lastRotatedAt ? { lastRotatedAt: e.lastRotatedAt } : {}),
    ...(e.lastRotationId ? { lastRotationId: e.lastRotationId } : {}),
  };
  return { key, etag: e.etag! };
}

export interface ModifyOptions {
  /** Modify exactly this version of the row; if it changed → RotationConflictError. Without it
   * the helper re-reads and retries on a conflict (up to `attempts`). */
  etag?: string;
  attempts?: number;
}

export class Inventory implements InventoryPort {
  /** `policies` checks policy attachments (same tenant, existing, covering the key's kind);
   * without it, attaching a policy is refused. */
  constructor(private readonly table: TableClient, private readonly policies?: Pick<PolicyPort, "get" | "tenantsWith">, private readonly now: () => Date = () => new Date()) {}

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "inventory: create table");
    }
  }

  /** By keyId in any spelling: the canonical row, else (rows written before keyIds were
   * canonical) the row under exactly this spelling. */
  async get(keyId: string): Promise<StoredKey | undefined> {
    const canonical = canonicalOrUndefined(keyId);
    const found = canonical !== undefined ? await this.getExact(canonical) : undefined;
    return found ?? (canonical === keyId ? undefined : this.getExact(keyId));
  }

  private async getExact(keyId: string): Promise<StoredKey | undefined> {
    const table = await this.ready();
    const row = await getRowOrUndefined<KeyEntity>(table, escapeKey(keyId), ROW, `inventory: get ${keyId}`);
    return row && fromEntity(row);
  }

  /** One page of keys (optionally one tenant's), for HTTP paging. */
  async page(opts: { tenant?: string; continuation?: string; pageSize?: number } = {}): Promise<KeyPage> {
    const table = await this.ready();
    // Key rows only: vault-object claim rows share the table.
    const filter = opts.tenant === undefined ? odata`RowKey eq ${ROW}` : odata`RowKey eq ${ROW} and tenant eq ${opts.tenant}`;
    try {
      const pages = table.listEntities<KeyEntity>({ queryOptions: filter ? { filter } : {} }).byPage({
        maxPageSize: opts.pageSize ?? 500,
        ...(opts.continuation !== undefined ? { continuationToken: opts.continuation } : {}),
      });
      const first = await pages.next();
      const page = (first.done === true ? [] : first.value) as (KeyEntity & { etag: string })[] & { continuationToken?: string };
      return { items: page.map(fromEntity), continuation: page.continuationToken };
    } catch (err) {
      return translateTableError(err, "inventory: list");
    }
  }

  /** Every key (optionally one tenant's), streamed page by page. */
  async *list(opts: { tenant?: string; pageSize?: number } = {}): AsyncIterable<StoredKey> {
    let continuation: string | undefined;
    do {
      const p = await this.page({ ...opts, ...(continuation !== undefined ? { continuation } : {}) });
      yield* p.items;
      continuation = p.continuation;
    } while (continuation !== undefined);
  }

  /** Creates (etag undefined; exists → RotationConflictError) or replaces If-Match `etag`
   * (changed → RotationConflictError). Returns the new etag. A replacement must be a state the
   * version rule book reaches from the stored row (checkTransition), however it was built. */
  async put(key: ManagedKey, etag: string | undefined): Promise<string> {
    // New rows are written under the canonical keyId only (older rows keep theirs and stay usable).
    if (etag === undefined) checkCanonicalKeyId(key.keyId);
    const previous = etag !== undefined ? await this.get(key.keyId) : undefined;
    if (previous && previous.etag !== etag) {
      throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [inventory] ${key.keyId} changed since it was read (ETag)`);
    }
    return this.write(key, etag, previous?.key);
  }

  /** `previous`: the row as read, so an unchanged policy attachment is not re-verified (a rotation
   * must be able to record its result even if its policy was deleted meanwhile). */
  private async write(key: ManagedKey, etag: string | undefined, previous: ManagedKey | undefined): Promise<string> {
    checkManagedKey(key);
    if (previous) checkTransition(previous, key);
    if (key.policyId !== undefined && previous?.policyId !== key.policyId) await this.checkAttachment(key);
    const table = await this.ready();
    const entity = toEntity(key);
    if (etag === undefined) await this.claimObject(table, key.keyId);
    try {
      const res = etag === undefined ? await table.createEntity(entity) : await table.updateEntity(entity, "Replace", { etag });
      return res.etag!;
    } catch (err) {
      if (statusOf(err) === 404) throw new InvalidRequestError("KeyNotFound", `[keyrotor] [inventory] ${key.keyId} is not in the inventory`, { status: 404, cause: err });
      return translateTableError(err, `inventory: put ${key.keyId}`);
    }
  }

  /** One vault object, one managed key: the claim row names the keyId that manages the object.
   * A claim left by a creation that never wrote its key row is taken over (If-Match), once it is
   * older than CLAIM_GRACE_MS: a younger one may belong to a creation still in flight. */
  private async claimObject(table: TableClient, keyId: string): Promise<void> {
    const object = vaultObjectOf(keyId);
    if (object === undefined) return;
    const partitionKey = escapeKey(`vault-object:${object}`);
    try {
      await table.createEntity({ partitionKey, rowKey: CLAIM, keyId, claimedAt: this.now().toISOString() });
      return;
    } catch (err) {
      if (statusOf(err) !== 409) return translateTableError(err, `inventory: claim ${object}`);
    }
    let claim: { keyId: string; claimedAt?: string; etag?: string };
    try {
      claim = await table.getEntity<{ keyId: string; claimedAt?: string }>(partitionKey, CLAIM);
    } catch (err) {
      return translateTableError(err, `inventory: read claim ${object}`);
    }
    if (claim.keyId === keyId) return;
    const young = claim.claimedAt === undefined || this.now().getTime() - Date.parse(claim.claimedAt) < CLAIM_GRACE_MS;
    if (young || (await this.getExact(claim.keyId))) throw vaultObjectTaken(object, claim.keyId, keyId);
    try {
      await table.updateEntity({ partitionKey, rowKey: CLAIM, keyId, claimedAt: this.now().toISOString() }, "Replace", { etag: claim.etag! });
    } catch (err) {
      if (statusOf(err) === 412) throw new RotationConflictError("VaultObjectClaimed", `[keyrotor] [inventory] vault object ${object} was claimed meanwhile; retry`, { cause: err });
      return translateTableError(err, `inventory: claim ${object}`);
    }
  }

  async create(key: ManagedKey): Promise<StoredKey> {
    return { key, etag: await this.put(key, undefined) };
  }

  async update(key: ManagedKey, etag: string): Promise<StoredKey> {
    return { key, etag: await this.put(key, etag) };
  }

  /** Read, change, write under the read etag; on a conflict re-read and retry (unless the caller
   * pinned an etag). `change` returns the new key, or undefined when nothing needs changing (the
   * write is skipped: helpers are idempotent). */
  async modify(keyId: string, change: (key: ManagedKey) => ManagedKey | undefined, opts: ModifyOptions = {}): Promise<StoredKey> {
    const attempts = opts.etag !== undefined ? 1 : (opts.attempts ?? 5);
    for (let attempt = 1; ; attempt++) {
      const row = await this.get(keyId);
      if (!row) throw new InvalidRequestError("KeyNotFound", `[keyrotor] [inventory] ${keyId} is not in the inventory`, { status: 404, field: "keyId" });
      if (opts.etag !== undefined && row.etag !== opts.etag) {
        throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [inventory] ${keyId} changed since it was read (ETag)`);
      }
      const next = change(structuredClone(row.key));
      if (next === undefined) return row;
      try {
        return { key: next, etag: await this.write(next, row.etag, row.key) };
      } catch (err) {
        if (!(err instanceof RotationConflictError) || attempt >= attempts) throw err;
      }
    }
  }

  /** Adds a new version (secondary — it becomes primary only by setPrimary — or primary for a key
   * that has none yet), by the version rule book's `add`. Repeating the same addition is a no-op. */
  addVersion(keyId: string, version: KeyVersion, opts: ModifyOptions = {}): Promise<StoredKey> {
    return this.modify(keyId, (key) => unlessSame(key, add(key, version)), opts);
  }

  /** Moves the primary pointer (the rule book's `promote`): `version` becomes primary, the old
   * primary secondary with its demotion time (`at`, else rotated.at, else now) — one write.
   * `rotated` also records the rotation (lastRotatedAt anchors the next scheduled slot). */
  setPrimary(keyId: string, version: string, opts: ModifyOptions & { at?: string; rotated?: { at: string; rotationId: string } } = {}): Promise<StoredKey> {
    return this.modify(keyId, (key) => {
      const at = opts.at ?? opts.rotated?.at ?? this.now().toISOString();
      const promoted = promote(key, version, at);
      const recorded = !opts.rotated || (key.lastRotationId === opts.rotated.rotationId && key.lastRotatedAt === opts.rotated.at);
      if (promoted === key && recorded) return undefined;
      return { ...promoted, ...(opts.rotated ? { lastRotatedAt: opts.rotated.at, lastRotationId: opts.rotated.rotationId } : {}) };
    }, opts);
  }

  /** Sets a non-primary version's state by the rule book: retired (`retire`), revoked (`revoke`),
   * or secondary, which only a secondary already is (a retired or revoked version never returns
   * to use; the primary steps down only when another is promoted). */
  setVersionState(keyId: string, version: string, state: Exclude<VersionState, "primary">, opts: ModifyOptions = {}): Promise<StoredKey> {
    return this.modify(keyId, (key) => {
      if (state === "retired") return unlessSame(key, retire(key, version));
      if (state === "revoked") return unlessSame(key, revoke(key, version));
      const current = key.versions.find((v) => v.version === version);
      if (current?.state === "secondary") return undefined;
      const rule = current === undefined ? "VersionNotFound" : current.state === "primary" ? "NotPrimary" : current.state === "revoked" ? "VersionRevoked" : "VersionRetired";
      throw new VersionRuleError(keyId, version, rule, current?.state === "primary"
        ? "the primary steps down only when another version is promoted"
        : `it is ${current?.state ?? "unknown"}; only promotion and demotion make a version secondary`);
    }, opts);
  }

  /** Attaches a policy of the key's own tenant (or detaches with undefined). */
  attachPolicy(keyId: string, policyId: string | undefined, opts: ModifyOptions = {}): Promise<StoredKey> {
    return this.modify(keyId, (key) => {
      if (key.policyId === policyId) return undefined;
      const { policyId: _old, ...rest } = key;
      return policyId === undefined ? rest : { ...rest, policyId };
    }, opts);
  }

  private async checkAttachment(key: ManagedKey): Promise<void> {
    if (!this.policies) throw new InvariantViolationError("NoPolicyStore", "[keyrotor] [inventory] cannot verify a policy attachment without the policy store");
    await checkPolicyAttachment(this.policies, key);
  }
}

/** A key's policy must be its own tenant's and cover its kind (every inventory adapter asks this). */
export async function checkPolicyAttachment(policies: Pick<PolicyPort, "get" | "tenantsWith">, key: ManagedKey): Promise<void> {
  const policyId = key.policyId;
  if (policyId === undefined) return;
  const own = await policies.get(key.tenant, policyId);
  if (own) {
    if (!own.policy.kinds.includes(key.kind)) throw invalid("PolicyKindMismatch", "policyId", `policy ${policyId} applies to ${own.policy.kinds.join(", ")}, not ${key.kind}`);
    return;
  }
  const elsewhere = await policies.tenantsWith(policyId);
  if (elsewhere.length > 0) throw invalid("PolicyTenantMismatch", "policyId", `policy ${policyId} belongs to another tenant; a key of tenant ${key.tenant} can only use its own tenant's policies`);
  throw invalid("PolicyNotFound", "policyId", `tenant ${key.tenant} has no policy ${policyId}`);
}

function canonicalOrUndefined(keyId: string): string | undefined {
  try {
    return canonicalKeyId(keyId);
  } catch {
    return undefined; // not a keyId at all: looked up as given, and not found
  }
}

/** undefined (nothing to write) when a rule-book operation returned the key unchanged. */
function unlessSame(before: ManagedKey, after: ManagedKey): ManagedKey | undefined {
  return after === before ? undefined : after;
}

export function inventoryFromConfig(cfg: Config, policies: PolicyPort = policyStoreFromConfig(cfg)): Inventory {
  return new Inventory(tableClient(cfg, "inventory"), policies);
}
