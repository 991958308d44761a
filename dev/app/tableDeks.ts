// The rotation engine's DEK port (lib/orchestration/ports.ts DekStorePort) on the DEK table, in the
// layout lib/stores/dekStore.ts owns (PartitionKey = tenant, RowKey = dekIdFor(n), "~primary"
// pointer, "~tenants" index), so DEKs seeded or read through DekStore and DEKs rotated by the
// engine are the same rows. The engine names versions "v<n>"; the table holds n and dekIdFor(n).
// The engine hands wrapped bytes as base64; the table keeps base64url (DekRecord's format).
//
// Why in dev/: lib has no Table adapter for this port yet (createRotationDeps asks for one in its
// overrides). This is the local host's; it should move to lib/orchestration once one lands there.
import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { InvariantViolationError, RotationConflictError } from "../../lib/domain/errors";
import type { VersionState } from "../../lib/domain/keys";
import { dekIdFor, DEK_RECORD_FORMAT } from "../../lib/envelope/dekRecord";
import type { DekRecord, DekRewrite, DekStorePort, StoredDek } from "../../lib/orchestration/ports";
import { PRIMARY_ROW, TENANTS_PARTITION } from "../../lib/stores/dekStore";
import { ensureTable, escapeKey, statusOf, translateTableError, unescapeKey } from "../../lib/stores/tables";

const MAX_TRANSACTION = 100;

interface DekEntity {
  partitionKey: string;
  rowKey: string;
  format: number;
  tenant: string;
  dekVersion: number;
  kekKeyId: string;
  kekVersion: string;
  alg: string;
  wrapped: string;
  createdAt: string;
  state: string;
  rotationId?: string;
  rewrappedAt?: string;
}

const toB64 = (b64url: string) => Buffer.from(b64url, "base64url").toString("base64");
const toB64url = (b64: string) => Buffer.from(b64, "base64").toString("base64url");

function versionNumber(dekVersion: string): number {
  const m = /^v0*(\d+)$/.exec(dekVersion);
  if (!m) throw new InvariantViolationError("DekVersionInvalid", `[keyrotor] [deks] DEK version "${dekVersion}" is not v<n>`);
  return Number(m[1]);
}

function fromEntity(e: DekEntity & { etag: string }): StoredDek {
  return {
    tenant: e.tenant ?? unescapeKey(e.partitionKey),
    dekVersion: `v${e.dekVersion}`,
    state: e.state as VersionState,
    kekKeyId: e.kekKeyId,
    kekVersion: e.kekVersion,
    wrapped: toB64(e.wrapped),
    createdAt: e.createdAt,
    ...(e.rotationId ? { rotationId: e.rotationId } : {}),
    etag: e.etag,
  };
}

function toEntity(r: DekRecord): DekEntity {
  const n = versionNumber(r.dekVersion);
  return {
    partitionKey: escapeKey(r.tenant), rowKey: dekIdFor(n), format: DEK_RECORD_FORMAT, tenant: r.tenant, dekVersion: n,
    kekKeyId: r.kekKeyId, kekVersion: r.kekVersion, alg: "RSA-OAEP-256", wrapped: toB64url(r.wrapped), createdAt: r.createdAt, state: r.state,
    ...(r.rotationId ? { rotationId: r.rotationId } : {}),
  };
}

export class TableDekPort implements DekStorePort {
  private ready: Promise<TableClient> | undefined;
  constructor(private readonly client: TableClient) {}

  private table(): Promise<TableClient> {
    this.ready ??= ensureTable(this.client).catch((err: unknown) => {
      this.ready = undefined;
      return translateTableError(err, "create DEK table");
    });
    return this.ready;
  }

  async listTenants(): Promise<string[]> {
    const t = await this.table();
    const out: string[] = [];
    try {
      for await (const e of t.listEntities<{ tenant?: string }>({ queryOptions: { filter: odata`PartitionKey eq ${TENANTS_PARTITION}` } })) {
        out.push(e.tenant ?? unescapeKey(e.rowKey ?? ""));
      }
    } catch (err) {
      translateTableError(err, "list tenants");
    }
    return out.sort();
  }

  async scanRange(tenant: string, opts: { continuation?: string; limit: number }): Promise<{ records: StoredDek[]; continuation?: string }> {
    const t = await this.table();
    // The continuation is the last RowKey returned: stable across processes, JSON-safe.
    const after = opts.continuation ?? "";
    const filter = odata`PartitionKey eq ${escapeKey(tenant)} and RowKey gt ${after} and RowKey lt ${"~"}`;
    const records: StoredDek[] = [];
    let lastRowKey: string | undefined;
    try {
      for await (const page of t.listEntities<DekEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: Math.min(opts.limit, 1000) })) {
        for (const e of page) {
          if (records.length >= opts.limit) break;
          records.push(fromEntity(e));
          lastRowKey = e.rowKey;
        }
        if (records.length >= opts.limit) break;
      }
    } catch (err) {
      translateTableError(err, `scan DEKs of ${tenant}`);
    }
    if (records.length < opts.limit || !lastRowKey) return { records };
    return { records, continuation: lastRowKey };
  }

  async rewrapBatch(tenant: string, rewrites: DekRewrite[]): Promise<{ written: number; conflicts: string[] }> {
    const t = await this.table();
    const pk = escapeKey(tenant);
    const at = new Date().toISOString();
    let written = 0;
    const conflicts: string[] = [];
    for (let i = 0; i < rewrites.length; i += MAX_TRANSACTION) {
      let chunk = rewrites.slice(i, i + MAX_TRANSACTION);
      // A transaction is all or nothing: on a 412 find the rows that changed, report them, and
      // write the rest (their ETags still hold).
      for (let attempt = 0; chunk.length > 0 && attempt < 3; attempt++) {
        const actions: TransactionAction[] = chunk.map((r) => [
          "update",
          { partitionKey: pk, rowKey: dekIdFor(versionNumber(r.dekVersion)), kekVersion: r.kekVersion, wrapped: toB64url(r.wrapped), rewrappedAt: at },
          "Merge",
          { etag: r.etag },
        ]);
        try {
          await t.submitTransaction(actions);
          written += chunk.length;
          chunk = [];
        } catch (err) {
          const status = statusOf(err);
          if (status !== 412 && status !== 404) translateTableError(err, `rewrap DEKs of ${tenant}`);
          const still: DekRewrite[] = [];
          for (const r of chunk) {
            const now = await this.get(t, pk, dekIdFor(versionNumber(r.dekVersion)));
            if (now?.etag === r.etag) still.push(r);
            else conflicts.push(r.dekVersion);
          }
          chunk = still;
        }
      }
      if (chunk.length > 0) throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [deks] ${tenant}: ${chunk.length} DEK rewrites kept failing`);
    }
    return { written, conflicts };
  }

  private async get(t: TableClient, pk: string, rowKey: string): Promise<(DekEntity & { etag: string }) | undefined> {
    try {
      return (await t.getEntity<DekEntity>(pk, rowKey));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      return translateTableError(err, `read DEK ${pk}/${rowKey}`);
    }
  }

  async countByKekVersion(kekKeyId: string): Promise<Record<string, number>> {
    const t = await this.table();
    const counts: Record<string, number> = {};
    try {
      const rows = t.listEntities<{ kekVersion: string }>({ queryOptions: { filter: odata`kekKeyId eq ${kekKeyId}`, select: ["kekVersion"] } });
      for await (const page of rows.byPage({ maxPageSize: 1000 })) for (const e of page) counts[e.kekVersion] = (counts[e.kekVersion] ?? 0) + 1;
    } catch (err) {
      translateTableError(err, `count DEKs under ${kekKeyId}`);
    }
    return counts;
  }

  async tenantDeks(tenant: string): Promise<StoredDek[]> {
    const out: StoredDek[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.scanRange(tenant, { limit: 1000, ...(continuation ? { continuation } : {}) });
      out.push(...page.records);
      continuation = page.continuation;
    } while (continuation);
    return out;
  }

  async rotatePrimary(tenant: string, next: DekRecord, previous: { dekVersion: string; etag: string } | undefined): Promise<void> {
    const t = await this.table();
    const pk = escapeKey(tenant);
    const entity = toEntity(next);
    const actions: TransactionAction[] = [["create", { ...entity }]];
    if (previous) actions.push(["update", { partitionKey: pk, rowKey: dekIdFor(versionNumber(previous.dekVersion)), state: "secondary" }, "Merge", { etag: previous.etag }]);
    actions.push(["upsert", { partitionKey: pk, rowKey: PRIMARY_ROW, primaryDekId: entity.rowKey, primaryVersion: entity.dekVersion }, "Replace"]);
    try {
      await t.submitTransaction(actions);
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 412) {
        throw new RotationConflictError(status === 409 ? "EntityAlreadyExists" : "UpdateConditionNotSatisfied", `[keyrotor] [deks] ${tenant}: ${next.dekVersion} exists or ${previous?.dekVersion ?? "the primary"} changed`, { cause: err });
      }
      translateTableError(err, `rotate the primary DEK of ${tenant}`);
    }
    try {
      await t.upsertEntity({ partitionKey: TENANTS_PARTITION, rowKey: pk, tenant }, "Merge");
    } catch (err) {
      translateTableError(err, `index tenant ${tenant}`);
    }
  }
}
