import { describe, expect, it } from "vitest";
import { ApprovalStore } from "../../../lib/stores/approvals";
import { decideApproval, openEmergency, type EmergencyRequest } from "../../../lib/domain/approval";
import { RotationConflictError } from "../../../lib/domain/errors";
import { freshTable } from "../../support/tables";

const now = new Date("2026-11-22T10:00:00Z");
const claim = (approver: string, at: Date): EmergencyRequest => {
  const d = decideApproval(request(), { id: `oid-${approver}`, name: approver }, at);
  if (d.kind !== "claim") throw new Error("expected a claim");
  return d.next;
};
const request = () => openEmergency({ rotationId: "kek:demo-vault/k@emergency:r1", keyId: "kek:demo-vault/k", requestedBy: { id: "oid-alice", name: "alice" }, reason: "private key exposed in CI logs", revokeOld: true, now, windowMs: 3_600_000 });

describe("ApprovalStore on Table Storage", () => {
  it("stores a request and reads it back by rotationId", async () => {
    const store = new ApprovalStore(await freshTable("appr"));
    await store.create(request());
    expect((await store.get(request().rotationId))?.request).toEqual(request());
    expect(await store.get("kek:demo-vault/k@emergency:none")).toBeUndefined();
  });

  it("refuses a duplicate request for the same rotationId", async () => {
    const store = new ApprovalStore(await freshTable("appr"));
    await store.create(request());
    await expect(store.create(request())).rejects.toBeInstanceOf(RotationConflictError);
  });

  it("lets exactly one of two racing approvers win", async () => {
    const store = new ApprovalStore(await freshTable("appr"));
    const { etag } = await store.create(request());
    const later = new Date(now.getTime() + 60_000);
    const results = await Promise.allSettled([
      store.update(claim("bob", later), etag),
      store.update(claim("carol", later), etag),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results.find((r) => r.status === "rejected");
    expect(loser?.status === "rejected" && loser.reason).toBeInstanceOf(RotationConflictError);
  });
});
