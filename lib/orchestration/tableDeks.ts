// The rotation engine's DEK port over lib/stores/dekStore.ts (which owns the table layout and the
// tenant's primary-DEK pointer). The engine names DEK versions "v<n>" and hands wrapped bytes as
// base64; the store keeps dekVersion n, dekId = dekIdFor(n) and base64url.
//
// Idempotent DEK rotation: before the new DEK is promoted, an intent row
// (RowKey "~rotation~<rotationId>", no kekKeyId column, so counts and scans never see it) records
// the version and the wrapped bytes. A rotation that crashed after the intent re-promotes exactly
// that DEK instead of generating a second one, and tenantDeks() reports which rotation made each DEK.
import { odata, type TableClient } from "@azure/data-tables";
import { InvariantViolationError, RotationConflictError } from "../domain/errors";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord as EnvelopeDek } from "../envelope/dekRecord";
import { DekStore, type StoredDek as StoreDek } from "../stores/dekStore";
import { ensureTable, escapeKey, statusOf, translateTableError } from "../stores/tables";
import type { DekRecord, DekRewrite, DekStorePort, StoredDek } from "./ports";

const INTENT_PREFIX = "~rotation~";
const INTENT_END = "~rotation~\uffff";
/** Scanned rows remembered for the rewrite that follows (the port's rewrite names only dekVersion). */
const SCAN_MEMORY = 20_000;

interface IntentEntity {
  partitionKey: string;
  rowKey: string;
  rotationId: string;
  dekVersion: number;
  wrappedDek: string;
  wrapKek: string;
  wrapKekVersion: string;
  createdAt: string;
}

const toB64 = (b64url: string): string => Buffer.from(b64url, "base64url").toString("base64");
const toB64url = (b64: string): string => Buffer.from(b64, "base64").toString("base64url");

function versionNumber(dekVersion: string): number {
  const m = /^v0*(\d+)$/.exec(dekVersion);
  if (!m) throw new InvariantViolationError("DekVersionInvalid", `[keyrotor] [deks] DEK version "${dekVersion}" is not v<n>`);
  return Number(m[1]);
}

function toPort(d: StoreDek, rotationId: string | undefined): StoredDek {
  return {
    tenant: d.tenant, dekVersion: `v${d.dekVersion}`, state: d.state, kekKeyId: d.kekKeyId, kekVersion: d.kekVersion,
    wrapped: toB64(d.wrapped), createdAt: d.createdAt, etag: d.etag, ...(rotationId ? { rotationId } : {}),
  };
}

/** Thrown inside DekStore.rewrapBatch when a re-read row no longer holds the ciphertext the rewrite
 * was computed from: that row is reported as a conflict, never overwritten. */
class StaleRewrite extends Error {}

export class TableDekRotationPort implements DekStorePort {
  readonly store: DekStore;
  private readonly scanned = new Map<string, StoreDek>();
  private ready: Promise<TableClient> | undefined;

  constructor(private readonly client: TableClient) {
    this.store = new DekStore(client);
  }

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create DEK table");
    });
    return this.ready;
  }

  async listTenants(): Promise<string[]> {
    const out: string[] = [];
    for await (const t of this.store.tenants()) out.push(t);
    return out.sort();
  }

  async scanRange(tenant: string, opts: { continuation?: string; limit: number }): Promise<{ records: StoredDek[]; continuation?: string }> {
    const page = await this.store.scanRange(tenant, { limit: opts.limit, ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    if (this.scanned.size > SCAN_MEMORY) this.scanned.clear();
    for (const d of page.items) this.scanned.set(`${tenant}\u0000${d.dekVersion}`, d);
    return { records: page.items.map((d) => toPort(d, undefined)), ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  /** Writes the rewrites through DekStore.rewrapBatch (≤100 per transaction, If-Match). A row whose
   * ciphertext changed since the scan comes back in `conflicts`; a row whose state alone changed
   * (a DEK rotation demoting it) still holds the same DEK and is written. */
  async rewrapBatch(tenant: string, rewrites: DekRewrite[]): Promise<{ written: number; conflicts: string[] }> {
    const conflicts = new Set<string>();
    const items: StoreDek[] = [];
    const computed = new Map<string, { from: StoreDek; wrapped: Uint8Array }>();
    for (const r of rewrites) {
      const n = versionNumber(r.dekVersion);
      const key = `${tenant}\u0000${n}`;
      let from = this.scanned.get(key);
      if (!from || from.etag !== r.etag) from = await this.store.get(tenant, dekIdFor(n));
      this.scanned.delete(key);
      if (!from || from.etag !== r.etag) {
        conflicts.add(r.dekVersion);
        continue;
      }
      items.push(from);
      computed.set(from.dekId, { from, wrapped: Buffer.from(r.wrapped, "base64") });
    }
    let written = 0;
    const targets = new Map<string, StoreDek[]>();
    for (const d of items) {
      const kekVersion = rewrites.find((r) => versionNumber(r.dekVersion) === d.dekVersion)!.kekVersion;
      const k = `${d.kekKeyId}\u0000${kekVersion}`;
      targets.set(k, [...(targets.get(k) ?? []), d]);
    }
    for (const [k, group] of targets) {
      const [kekKeyId, kekVersion] = k.split("\u0000") as [string, string];
      let todo = group;
      for (let attempt = 0; todo.length > 0; attempt++) {
        const stale = new Set<string>();
        try {
          const counts = await this.store.rewrapBatch(tenant, todo, { kekKeyId, kekVersion }, async (now) => {
            const c = computed.get(now.dekId);
            if (c && now.wrapped === c.from.wrapped && now.kekVersion === c.from.kekVersion && now.kekKeyId === c.from.kekKeyId) return c.wrapped;
            stale.add(now.dekId);
            throw new StaleRewrite(now.dekId);
          }, { maxConflictRetries: 3 });
          written += counts.rewrapped;
          todo = [];
        } catch (err) {
          if (!(err instanceof StaleRewrite) || attempt >= 3) throw err;
          for (const d of todo) if (stale.has(d.dekId)) conflicts.add(`v${d.dekVersion}`);
          todo = todo.filter((d) => !stale.has(d.dekId));
        }
      }
    }
    return { written, conflicts: [...conflicts] };
  }

  countByKekVersion(kekKeyId: string): Promise<Record<string, number>> {
    return this.store.countsByKekVersion(kekKeyId);
  }

  async tenantDeks(tenant: string): Promise<StoredDek[]> {
    const byVersion = new Map((await this.intents(tenant)).map((i) => [i.dekVersion, i.rotationId]));
    const out: StoredDek[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.store.scanRange(tenant, { limit: 1000, ...(continuation ? { continuation } : {}) });
      out.push(...page.items.map((d) => toPort(d, byVersion.get(d.dekVersion))));
      continuation = page.continuation;
    } while (continuation);
    return out;
  }

  /** Records the intent, then promotes through DekStore.addPrimary (one transaction: insert, demote
   * the old primary, move the pointer). A repeated call for the same rotation promotes the DEK the
   * intent names, whatever `next` holds. */
  async rotatePrimary(tenant: string, next: DekRecord, _previous: { dekVersion: string; etag: string } | undefined): Promise<void> {
    if (!next.rotationId) throw new InvariantViolationError("DekWithoutRotation", `[keyrotor] [deks] a rotated DEK of ${tenant} must name its rotation`);
    const intent = await this.intent(tenant, next);
    const dekVersion = intent.dekVersion;
    const record: EnvelopeDek = {
      format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(dekVersion), dekVersion, kekKeyId: intent.wrapKek, kekVersion: intent.wrapKekVersion,
      alg: "RSA-OAEP-256", wrapped: intent.wrappedDek, createdAt: intent.createdAt, state: "primary",
    };
    const existing = await this.store.get(tenant, record.dekId);
    if (existing) {
      if (existing.wrapped !== record.wrapped) throw new RotationConflictError("DekExists", `[keyrotor] [deks] ${tenant}/v${dekVersion} exists with other contents`);
      if (existing.state === "primary") return;
    }
    await this.store.addPrimary(record);
  }

  private async intent(tenant: string, next: DekRecord): Promise<IntentEntity> {
    const t = await this.table();
    const entity: IntentEntity = {
      partitionKey: escapeKey(tenant), rowKey: `${INTENT_PREFIX}${escapeKey(next.rotationId!)}`, rotationId: next.rotationId!,
      dekVersion: versionNumber(next.dekVersion), wrappedDek: toB64url(next.wrapped), wrapKek: next.kekKeyId, wrapKekVersion: next.kekVersion,
      createdAt: next.createdAt,
    };
    try {
      await t.createEntity(entity);
      return entity;
    } catch (err) {
      if (statusOf(err) !== 409) translateTableError(err, `record DEK rotation intent of ${tenant}`);
    }
    try {
      return await t.getEntity<IntentEntity>(entity.partitionKey, entity.rowKey);
    } catch (err) {
      return translateTableError(err, `read DEK rotation intent of ${tenant}`);
    }
  }

  private async intents(tenant: string): Promise<IntentEntity[]> {
    const t = await this.table();
    const out: IntentEntity[] = [];
    try {
      const filter = odata`PartitionKey eq ${escapeKey(tenant)} and RowKey ge ${INTENT_PREFIX} and RowKey lt ${INTENT_END}`;
      for await (const e of t.listEntities<IntentEntity>({ queryOptions: { filter } })) out.push(e);
    } catch (err) {
      translateTableError(err, `list DEK rotation intents of ${tenant}`);
    }
    return out;
  }
}
