// The approvals port's contract (lib/ports.ts ApprovalPort): emergency requests recorded once and
// changed only under the etag they were read with, so two approvers racing cannot both win.
import { describe, expect, it } from "vitest";
import type { EmergencyRequest } from "../../lib/domain/approval";
import { RotationConflictError } from "../../lib/domain/errors";
import type { ApprovalPort } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface ApprovalsFixture {
  approvals: ApprovalPort;
}

const request = (n: number, over: Partial<EmergencyRequest> = {}): EmergencyRequest => ({
  rotationId: `kek:contract-vault/k@emergency:${n}`, keyId: "kek:contract-vault/k", requestedBy: "alice", requestedById: "oid-alice",
  requestedAt: "2026-01-01T00:00:00.000Z", approveBy: "2026-01-01T01:00:00.000Z", status: "pendingApproval", reason: "key material found in a public repository", revokeOld: true, source: "api", ...over,
});

export function approvalsContract(kind: AdapterKind, adapter: string, fixture: () => Promise<ApprovalsFixture>): void {
  describe(contractTitle("approvals", kind, adapter), () => {
    it("records a request and reads it back by rotationId; an unknown rotationId has none", async () => {
      const { approvals } = await fixture();
      const stored = await approvals.create(request(1));
      expect(stored.request).toEqual(request(1));
      expect(stored.etag).toBeTruthy();
      expect(await approvals.get(request(1).rotationId)).toEqual(stored);
      expect(await approvals.get(request(2).rotationId)).toBeUndefined();
    });

    it("refuses a second request under the same rotationId and keeps the first", async () => {
      const { approvals } = await fixture();
      const first = await approvals.create(request(1));
      await expect(approvals.create(request(1, { requestedBy: "mallory" }))).rejects.toBeInstanceOf(RotationConflictError);
      expect(await approvals.get(request(1).rotationId)).toEqual(first);
    });

    it("updates only under the etag read: of two approvers holding the same etag, the second is refused", async () => {
      const { approvals } = await fixture();
      const read = await approvals.create(request(1));
      const bob = await approvals.update({ ...read.request, approvedBy: "bob" }, read.etag);
      expect(bob.etag).not.toBe(read.etag);
      await expect(approvals.update({ ...read.request, approvedBy: "carol" }, read.etag)).rejects.toBeInstanceOf(RotationConflictError);
      expect(await approvals.get(request(1).rotationId)).toEqual(bob);
    });
  });
}
