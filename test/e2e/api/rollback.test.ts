// POST /api/rotations/rollback/{*rotationId} on the host: within the policy's rollbackWindow the
// replaced version is primary again (the newer one stays enabled); late, unknown or locked refused.
import { afterEach, describe, expect, it } from "vitest";
import { rollbackId } from "../../../lib/api/rollback";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { DURABLE, LOCK_OPS } from "../../../lib/orchestration/names";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { chain, OPERATOR, seedKey, snapshot, startApiHost, T0, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const REASON = "new version breaks the payments consumer";
const path = (rotationId: string) => `/api/rotations/rollback/${encodeURIComponent(rotationId)}`;

/** A KEK under a policy with a one-day rollback window, rotated once by an operator. */
async function rotated(api: ApiHost): Promise<{ keyId: string; v1: string; v2: string; rotationId: string }> {
  await api.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D" }, undefined);
  const { keyId, v1 } = await seedKey(api.mem, "kek", "tenant-kek", { policyId: "monthly", lastRotatedAt: T0 });
  const r = await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "manual rotation", mode: "manual" } });
  expect(r.status, r.body).toBe(202);
  const { rotationId } = r.json();
  expect((await api.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
  const v2 = (await api.mem.rotation.inventory.get(keyId))!.key.primaryVersion!;
  expect(v2).not.toBe(v1);
  return { keyId, v1, v2, rotationId };
}

describe("rollback", () => {
  it("within the rollback window re-promotes the replaced version, keeps the newer one enabled, and records who and why", async () => {
    h = await startApiHost();
    const { keyId, v1, v2, rotationId } = await rotated(h);
    h.clock.advance(3_600_000);
    const r = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: REASON } });
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ rotationId: rollbackId(rotationId), rollbackOf: rotationId, status: "running", versionBefore: v2, versionAfter: v1 });
    const done = await h.host.client.waitForCompletion(instanceIdFor(rollbackId(rotationId)), { timeoutMs: 60_000 });
    expect(done.output).toMatchObject({ outcome: "completed", versionBefore: v2, versionAfter: v1 });
    const key = (await h.mem.rotation.inventory.get(keyId))!.key;
    expect(key.primaryVersion).toBe(v1);
    expect(key.versions.find((v) => v.version === v2)?.state).toBe("secondary");
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).every((v) => v.enabled)).toBe(true);

    const again = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: REASON } });
    // Already rolled back: the rotation's version is no longer primary.
    expect(again.status).toBe(409);
    expect(again.json().error.code).toBe("Superseded");
    await h.host.idle();
    const entries = (await chain(h.mem, keyId)).filter((e) => e.rotationId === rollbackId(rotationId));
    expect(entries.filter((e) => e.type === "RotationRequested")).toEqual([
      expect.objectContaining({ actor: "olivia", reason: REASON, details: expect.objectContaining({ rollbackOf: rotationId }) }),
    ]);
    expect(entries.filter((e) => e.type === "RolledBack")).toHaveLength(1);
    expect(h.mem.events.messages.filter((m) => m.subject === "RolledBack")).toHaveLength(1);
  });

  it("refuses after the rollback window with 410 and changes nothing", async () => {
    h = await startApiHost();
    const { rotationId } = await rotated(h);
    h.clock.advance(25 * 3_600_000);
    const before = await snapshot(h.mem);
    const r = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: REASON } });
    expect(r.status).toBe(410);
    expect(r.json().error.code).toBe("RollbackWindowClosed");
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("refuses an unknown rotation with 404, and a short reason or an unknown field with 400", async () => {
    h = await startApiHost();
    const { rotationId } = await rotated(h);
    const before = await snapshot(h.mem);
    const unknown = await h.call("POST", path("kek:demo-vault/tenant-kek@manual:nope"), { as: OPERATOR, body: { reason: REASON } });
    expect(unknown.status).toBe(404);
    expect((await h.call("POST", path("no-such-thing"), { as: OPERATOR, body: { reason: REASON } })).status).toBe(404);
    const short = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: "oops" } });
    expect(short.status).toBe(400);
    expect(short.json().error.field).toBe("reason");
    const extra = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: REASON, force: true } });
    expect(extra.status).toBe(400);
    expect(extra.json().error.field).toBe("force");
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("refuses with 409 naming the holder while the key is locked", async () => {
    h = await startApiHost();
    const { keyId, rotationId } = await rotated(h);
    const now = h.clock.now();
    await h.host.client.signalEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) }, LOCK_OPS.tryAcquire, {
      owner: `${keyId}@manual:other`, now: now.toISOString(), leaseUntil: new Date(now.getTime() + 900_000).toISOString(),
    });
    await h.host.idle();
    const before = await snapshot(h.mem);
    const r = await h.call("POST", path(rotationId), { as: OPERATOR, body: { reason: REASON } });
    expect(r.status, r.body).toBe(409);
    expect(r.json().error.rotationId).toBe(`${keyId}@manual:other`);
    expect(await snapshot(h.mem)).toBe(before);
  });
});
