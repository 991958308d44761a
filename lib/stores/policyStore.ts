// Rotation policies in Table Storage: PartitionKey = tenant, RowKey = policyId, the validated policy
// as JSON. Every read and write is scoped by tenant (a tenant's policies live in its partition);
// writes are guarded by ETags so two admins editing one policy cannot silently overwrite each other.
import { odata, type TableClient } from "@azure/data-tables";
import type { Config } from "../config";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import type { ManagedKey } from "../domain/keys";
import { parsePolicyShape, validatePolicy, type Policy } from "../domain/policy";
import type { ExpectedEtag, PolicyPort, StoredPolicy } from "../ports";
import { ensureTable, getRowOrUndefined, escapeKey, statusOf, tableClient, translateTableError } from "./tables";

export type { ExpectedEtag, StoredPolicy } from "../ports";

interface PolicyEntity {
  partitionKey: string;
  rowKey: string;
  policy: string;
  updatedAt: string;
}

/** The only ETag form Table Storage issues for an entity: its timestamp, URL-encoded, weak. Any other
 * value (a list, a strong or made-up tag, a second "*") can never match a row, and sent to the
 * service it comes back as a 400 InvalidInput, not a precondition failure: refuse it here as the
 * conflict it is, before the call. */
const TABLE_ETAG = /^W\/"datetime'\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\d(\.\d{1,7})?Z'"$/;

function cannotMatch(expected: string, what: string): RotationConflictError {
  return new RotationConflictError("ETagMismatch", `[keyrotor] [policies] ${what}: If-Match ${JSON.stringify(expected.slice(0, 80))} is not this row's ETag`);
}

export class PolicyStore implements PolicyPort {
  constructor(private readonly table: TableClient, private readonly clock: () => Date = () => new Date()) {}

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "policies: create table");
    }
  }

  private read(e: PolicyEntity & { etag: string }): StoredPolicy {
    return { policy: parsePolicyShape(JSON.parse(e.policy)), etag: e.etag, updatedAt: e.updatedAt };
  }

  async get(tenant: string, policyId: string): Promise<StoredPolicy | undefined> {
    const table = await this.ready();
    const row = await getRowOrUndefined<PolicyEntity>(table, escapeKey(tenant), escapeKey(policyId), `policies: get ${tenant}/${policyId}`);
    return row && this.read(row);
  }

  /** A tenant's policies, or with no tenant every tenant's (the planner's view). */
  async *list(tenant?: string): AsyncIterable<StoredPolicy> {
    const table = await this.ready();
    const filter = tenant === undefined ? undefined : odata`PartitionKey eq ${escapeKey(tenant)}`;
    try {
      for await (const e of table.listEntities<PolicyEntity>({ queryOptions: filter ? { filter } : {} })) yield this.read(e);
    } catch (err) {
      translateTableError(err, `policies: list ${tenant ?? "all"}`);
    }
  }

  /** Every policy, for plan(). */
  async all(): Promise<Policy[]> {
    const out: Policy[] = [];
    for await (const s of this.list()) out.push(s.policy);
    return out;
  }

  /** Tenants that hold a policy with this id (for telling "not yours" from "does not exist"). */
  async tenantsWith(policyId: string): Promise<string[]> {
    const table = await this.ready();
    const out: string[] = [];
    try {
      const iter = table.listEntities<PolicyEntity>({ queryOptions: { filter: odata`RowKey eq ${escapeKey(policyId)}`, select: ["PartitionKey"] } });
      for await (const e of iter) out.push(e.partitionKey);
    } catch (err) {
      translateTableError(err, `policies: find ${policyId}`);
    }
    return out;
  }

  /** Validates `input` (InvalidRequestError naming the field) and writes it. Returns the stored
   * row with its new etag. Stale etag, or create over an existing row → RotationConflictError.
   * `scope`, when given, is the tenant the caller acts for: a policy of another tenant is refused. */
  async put(input: unknown, expected: ExpectedEtag, opts: { scope?: string } = {}): Promise<StoredPolicy> {
    const policy = validatePolicy(input, { now: this.clock() });
    if (opts.scope !== undefined && policy.tenant !== opts.scope) {
      throw new InvalidRequestError("TenantMismatch", `[keyrotor] [policies] policy ${policy.policyId} belongs to tenant "${policy.tenant}", not "${opts.scope}"`, { field: "tenant", status: 403 });
    }
    if (expected !== undefined && expected !== "*" && !TABLE_ETAG.test(expected)) throw cannotMatch(expected, `put ${policy.tenant}/${policy.policyId}`);
    const table = await this.ready();
    const updatedAt = this.clock().toISOString();
    const entity: PolicyEntity = { partitionKey: escapeKey(policy.tenant), rowKey: escapeKey(policy.policyId), policy: JSON.stringify(policy), updatedAt };
    const what = `policies: put ${policy.tenant}/${policy.policyId}`;
    try {
      const res =
        expected === undefined
          ? await table.createEntity(entity)
          : expected === "*"
            ? await table.upsertEntity(entity, "Replace")
            : await table.updateEntity(entity, "Replace", { etag: expected });
      return { policy, etag: res.etag!, updatedAt };
    } catch (err) {
      if (statusOf(err) === 404 && expected !== undefined && expected !== "*") {
        throw new InvalidRequestError("PolicyNotFound", `[keyrotor] [policies] ${policy.tenant}/${policy.policyId} does not exist; create it without an etag`, { status: 404, cause: err });
      }
      return translateTableError(err, what);
    }
  }

  /** Deletes one version of a policy (If-Match `etag`; "*" for any). Keys attached to it then plan
   * as noPolicy. */
  async delete(tenant: string, policyId: string, etag: string): Promise<void> {
    if (etag !== "*" && !TABLE_ETAG.test(etag)) throw cannotMatch(etag, `delete ${tenant}/${policyId}`);
    const table = await this.ready();
    try {
      await table.deleteEntity(escapeKey(tenant), escapeKey(policyId), { etag });
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new InvalidRequestError("PolicyNotFound", `[keyrotor] [policies] ${tenant}/${policyId} does not exist`, { status: 404, cause: err });
      }
      translateTableError(err, `policies: delete ${tenant}/${policyId}`);
    }
  }

  /** The policy that governs a key: the key's policyId in the key's own tenant, applying to its
   * kind. A policy of another tenant never applies. A tenant's DEK enters the inventory with its
   * first rotation, without a policyId: it follows its tenant's active policy for DEKs. */
  policyFor(key: ManagedKey): Promise<Policy | undefined> {
    return policyGoverning(this, key);
  }
}

/** The governing-policy rule above, once for every PolicyPort adapter (memory and Table). */
export async function policyGoverning(port: Pick<PolicyPort, "get" | "list">, key: ManagedKey): Promise<Policy | undefined> {
  if (key.policyId === undefined) {
    if (key.kind !== "dek") return undefined;
    for await (const s of port.list(key.tenant)) if (s.policy.kinds.includes("dek") && s.policy.status === "active") return s.policy;
    return undefined;
  }
  const row = await port.get(key.tenant, key.policyId);
  return row && row.policy.kinds.includes(key.kind) ? row.policy : undefined;
}

export function policyStoreFromConfig(cfg: Config): PolicyStore {
  return new PolicyStore(tableClient(cfg, "policies"));
}
