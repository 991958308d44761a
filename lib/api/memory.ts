// In-memory adapters of the API ports that lib/orchestration/memory.ts does not already provide:
// the key catalog over the rotation engine's MemoryInventory (so the API and the orchestrations see
// one inventory), policies with ETags, and emergency requests with ETags. Same refusals as the
// Table Storage stores: stale ETag or duplicate create → RotationConflictError.
import { randomUUID } from "node:crypto";
import type { EmergencyRequest } from "../domain/approval";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import type { ManagedKey } from "../domain/keys";
import { validatePolicy, policyKey, type Policy } from "../domain/policy";
import type { MemoryInventory } from "../orchestration/memory";
import type { StoredEmergency } from "../stores/approvals";
import type { StoredPolicy } from "../stores/policyStore";
import type { ApprovalPort, KeyCatalog, PolicyCatalog } from "./ports";

export class MemoryKeyCatalog implements KeyCatalog {
  constructor(readonly rows: MemoryInventory) {}
  get(keyId: string): Promise<{ key: ManagedKey; etag: string } | undefined> {
    return this.rows.get(keyId);
  }
  async *list(): AsyncIterable<{ key: ManagedKey }> {
    const ids = [...this.rows.rows.keys()].sort();
    for (const id of ids) {
      const row = await this.rows.get(id);
      if (row) yield row;
    }
  }
  async create(key: ManagedKey): Promise<{ key: ManagedKey; etag: string }> {
    return { key: structuredClone(key), etag: await this.rows.put(key, undefined) };
  }
}

export class MemoryPolicyCatalog implements PolicyCatalog {
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
  async put(input: unknown, expected: string | undefined): Promise<StoredPolicy> {
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
}

export class MemoryApprovals implements ApprovalPort {
  readonly rows = new Map<string, StoredEmergency>();
  async create(req: EmergencyRequest): Promise<StoredEmergency> {
    if (this.rows.has(req.rotationId)) throw new RotationConflictError("EntityAlreadyExists", `[keyrotor] [approvals] ${req.rotationId} exists`);
    const row = { request: structuredClone(req), etag: randomUUID() };
    this.rows.set(req.rotationId, row);
    return structuredClone(row);
  }
  async get(rotationId: string): Promise<StoredEmergency | undefined> {
    const row = this.rows.get(rotationId);
    return row ? structuredClone(row) : undefined;
  }
  async update(req: EmergencyRequest, etag: string): Promise<StoredEmergency> {
    const row = this.rows.get(req.rotationId);
    if (!row || row.etag !== etag) throw new RotationConflictError("UpdateConditionNotSatisfied", `[keyrotor] [approvals] ${req.rotationId} changed (ETag)`);
    const next = { request: structuredClone(req), etag: randomUUID() };
    this.rows.set(req.rotationId, next);
    return structuredClone(next);
  }
}
