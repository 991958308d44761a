// `status` of an emergency says which version was revoked, or that none was and why: from the
// request (pending), the rotation's outcome and its Revoked ledger entry.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { APPROVER, AUDITOR, OPERATOR, seedKey, startApiHost, T0, VAULT, type ApiHost } from "../api/support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

interface Revocation { revoked: boolean; version?: string; at?: string; dataLossAcceptedBy?: string; because: string }
const view = async (api: ApiHost, rotationId: string) =>
  (await api.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: AUDITOR })).json() as unknown as { phase: string; revocation?: Revocation };

/** Requests an emergency and, unless `approve` is null, has a second person approve it and waits. */
async function emergency(api: ApiHost, keyId: string, revokeOld: boolean, approve: Record<string, unknown> | null = {}): Promise<string> {
  const r = await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld } });
  expect(r.status, r.body).toBe(202);
  const rotationId = r.json().rotationId;
  if (approve) {
    expect((await api.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: approve })).status).toBe(202);
    await api.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
  }
  return rotationId;
}

/** A KEK with 3 DEKs and one the rewrap cannot move (it keeps referencing v1). */
async function kekWithStraggler(api: ApiHost): Promise<{ keyId: string; v1: string }> {
  const { keyId, v1 } = await seedKey(api.mem, "kek", "tenant-kek");
  for (let i = 0; i < 3; i++) {
    const wrapped = await api.mem.rotation.vault.wrapKey(VAULT, "tenant-kek", v1, randomBytes(32));
    api.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: i + 1, dekId: `d${i}`, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
  }
  api.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: 9001, dekId: "corrupt", state: "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: Buffer.alloc(256, 1), createdAt: T0 }));
  return { keyId, v1 };
}

describe("status of an emergency names the revoked version, or says why none was", () => {
  it("pending approval: not yet, naming the compromised version", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId, true, null);
    expect((await view(h, rotationId)).revocation).toMatchObject({ revoked: false, version: v1, because: expect.stringMatching(/approval/) as string });
  });

  it("completed with revokeOld: the version revoked and when", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId, true);
    const v = await view(h, rotationId);
    expect(v.phase).toBe("completed");
    expect(v.revocation).toMatchObject({ revoked: true, version: v1, at: expect.any(String) as string, because: expect.stringMatching(/nothing references it/) as string });
  });

  it("completed without revokeOld: none revoked, because it was not requested", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId, false);
    expect((await view(h, rotationId)).revocation).toMatchObject({ revoked: false, version: v1, because: expect.stringMatching(/revokeOld was not requested/) as string });
  });

  it("references left without acceptance: none revoked, naming the references", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await kekWithStraggler(h);
    const failed = await view(h, await emergency(h, keyId, true));
    expect(failed.phase).toBe("failed");
    expect(failed.revocation).toMatchObject({ revoked: false, version: v1, because: expect.stringMatching(/not revoked: .*reference/) as string });
  });

  it("references left with the approver's acceptance of data loss: revoked, naming who accepted", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await kekWithStraggler(h);
    const accepted = await view(h, await emergency(h, keyId, true, { acceptDataLoss: true }));
    expect(accepted.revocation).toMatchObject({ revoked: true, version: v1, dataLossAcceptedBy: "adam", because: expect.stringMatching(/1 references left: adam accepted the data loss/) as string });
  });

  it("a manual rotation has no revocation field", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    await h.host.client.waitForCompletion(instanceIdFor(r.json().rotationId), { timeoutMs: 60_000 });
    expect((await view(h, r.json().rotationId)).revocation).toBeUndefined();
  });
});
