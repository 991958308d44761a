// Emergency requests awaiting (or holding) a second person's approval, in Table Storage.
// PartitionKey = escaped keyId, RowKey = escaped rotationId; updates are ETag-guarded so two
// approvers racing cannot both win.
import type { TableClient } from "@azure/data-tables";
import type { EmergencyRequest } from "../domain/approval";
import { InvalidRequestError } from "../domain/errors";
import type { ApprovalPort, StoredEmergency } from "../ports";
import { ensureTable, getRowOrUndefined, escapeKey, translateTableError } from "./tables";

export type { StoredEmergency } from "../ports";

interface ApprovalEntity {
  partitionKey: string;
  rowKey: string;
  body: string;
}

export class ApprovalStore implements ApprovalPort {
  constructor(private readonly table: TableClient) {}

  /** Records a new request; a second record for the same rotationId is a conflict. */
  async create(req: EmergencyRequest): Promise<StoredEmergency> {
    await ensureTable(this.table);
    try {
      const res = await this.table.createEntity<ApprovalEntity>({ partitionKey: escapeKey(req.keyId), rowKey: escapeKey(req.rotationId), body: JSON.stringify(req) });
      return { request: req, etag: res.etag ?? "" };
    } catch (err) {
      return translateTableError(err, `create approval ${req.rotationId}`);
    }
  }

  async get(rotationId: string): Promise<StoredEmergency | undefined> {
    await ensureTable(this.table);
    const keyId = rotationId.split("@")[0] ?? "";
    const e = await getRowOrUndefined<ApprovalEntity>(this.table, escapeKey(keyId), escapeKey(rotationId), `read approval ${rotationId}`);
    if (!e) return undefined;
    return { request: JSON.parse(e.body) as EmergencyRequest, etag: e.etag };
  }

  async require(rotationId: string): Promise<StoredEmergency> {
    const found = await this.get(rotationId);
    if (!found) throw new InvalidRequestError("NotFound", `no emergency request ${rotationId}`, { status: 404, field: "rotationId" });
    return found;
  }

  /** Replaces the request if it is unchanged since `etag` was read; otherwise RotationConflictError. */
  async update(req: EmergencyRequest, etag: string): Promise<StoredEmergency> {
    try {
      const res = await this.table.updateEntity<ApprovalEntity>(
        { partitionKey: escapeKey(req.keyId), rowKey: escapeKey(req.rotationId), body: JSON.stringify(req) },
        "Replace",
        { etag },
      );
      return { request: req, etag: res.etag ?? "" };
    } catch (err) {
      return translateTableError(err, `update approval ${req.rotationId}`);
    }
  }
}
