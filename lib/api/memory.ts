// The memory approvals adapter (the other memory adapters are in lib/orchestration/memory.ts, which
// the API shares with the rotation engine). Same refusals as the Table Storage store: stale ETag or
// duplicate create → RotationConflictError.
import { randomUUID } from "node:crypto";
import type { EmergencyRequest } from "../domain/approval";
import { RotationConflictError } from "../domain/errors";
import type { ApprovalPort, StoredEmergency } from "../ports";

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
