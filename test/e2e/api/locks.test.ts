// POST /api/locks/break/{*keyId} on the host: a dead lock (lease expired, or its orchestration
// terminal) is cleared and audited as LockBroken; a live one is never stolen.
import { afterEach, describe, expect, it } from "vitest";
import { lockEntityKey, type LockState } from "../../../lib/domain/rotation";
import { DURABLE, LOCK_OPS } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationRequest } from "../../../lib/orchestration/workflows";
import { ADMIN, chain, OPERATOR, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const REASON = "orchestration was terminated during an incident";
// The keyId sent encoded (%2F), as an OpenAPI client sends a path parameter: decoded before routing.
const breakPath = (keyId: string) => `/api/locks/break/${encodeURIComponent(keyId)}`;
const lockOf = async (api: ApiHost, keyId: string) => (await api.host.client.readEntity<LockState>({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) })).state?.holder;

/** A rotation that takes the lock (lease PT15M) and then waits an hour before promoting. */
async function rotationHoldingLock(api: ApiHost, keyId: string): Promise<string> {
  const rotationId = `${keyId}@manual:slow`;
  const input: RotationRequest = { rotationId, keyId, trigger: "manual", actor: "olivia", reason: "slow", propagationDelay: "PT1H" };
  await api.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input });
  await api.host.idle();
  expect((await lockOf(api, keyId))?.owner).toBe(rotationId);
  return rotationId;
}

describe("breaking a lock by hand", () => {
  it("never breaks a live lock: 409 names the holder and nothing changes", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const owner = await rotationHoldingLock(h, keyId);
    const before = await snapshot(h.mem);
    const r = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON } });
    expect(r.status, r.body).toBe(409);
    expect(r.json().error).toMatchObject({ code: "LockLive", rotationId: owner });
    expect(await snapshot(h.mem)).toBe(before);
    expect((await lockOf(h, keyId))?.owner).toBe(owner);
  });

  it("breaks the lock of a terminated orchestration, records LockBroken with who and the old owner, and announces it", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const owner = await rotationHoldingLock(h, keyId);
    await h.host.client.terminate(instanceIdFor(owner), "incident");
    await h.host.idle();
    const r = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON } });
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toMatchObject({ keyId, previousOwner: owner, because: "ownerTerminal", confirmed: true });
    expect(await lockOf(h, keyId)).toBeUndefined();
    const broken = (await chain(h.mem, keyId)).filter((e) => e.type === "LockBroken");
    expect(broken).toEqual([expect.objectContaining({ actor: "ada", reason: REASON, details: expect.objectContaining({ previousOwner: owner, because: "ownerTerminal" }) })]);
    const events = h.mem.events.messages.filter((m) => m.subject === "LockBroken");
    expect(events).toHaveLength(1);
    expect(events[0]!.body.details).toMatchObject({ previousOwner: owner, brokenBy: "ada" });

    // The key is free: a new rotation takes it without a take-over.
    const next = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "rotate after the incident", mode: "manual" } });
    expect(next.status, next.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(next.json().rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "LockBroken")).toHaveLength(1);
  });

  it("breaks a lock whose lease expired, and a second request finds nothing to break", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const now = h.clock.now();
    await h.host.client.signalEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) }, LOCK_OPS.tryAcquire, {
      owner: `${keyId}@manual:gone`, now: now.toISOString(), leaseUntil: new Date(now.getTime() + 900_000).toISOString(),
    });
    await h.host.idle();
    h.clock.advance(16 * 60_000);
    const r = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON } });
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toMatchObject({ previousOwner: `${keyId}@manual:gone`, because: "leaseExpired" });
    const again = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON } });
    expect(again.status).toBe(404);
    expect(again.json().error.code).toBe("NotLocked");
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "LockBroken")).toHaveLength(1);
  });

  it("refuses a short reason, an unknown field or an unmanaged key, changing nothing", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    expect((await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: "because" } })).json().error.field).toBe("reason");
    expect((await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON, owner: "x" } })).json().error.field).toBe("owner");
    expect((await h.call("POST", breakPath("kek:demo-vault/unknown"), { as: ADMIN, body: { reason: REASON } })).status).toBe(404);
    expect(await snapshot(h.mem)).toBe(before);
  });
});
