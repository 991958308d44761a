// Breaking a running holder's lock (POST /api/locks/break/{*keyId} with terminateOwner) on the
// host: the holder's orchestration and the rewrap legs it started are terminated before the lock is
// cleared, so nothing of the old rotation goes on writing; without terminateOwner it stays a 409.
import { afterEach, describe, expect, it } from "vitest";
import { lockEntityKey, type LockState } from "../../../lib/domain/rotation";
import { overPorts } from "../../../lib/compose";
import { runActivity } from "../../../lib/orchestration/handlers";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationRequest } from "../../../lib/orchestration/workflows";
import { ADMIN, chain, OPERATOR, seedKey, snapshot, startApiHost, T0, VAULT, type ApiHost } from "./support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
let openGate: (() => void) | undefined;
afterEach(async () => {
  openGate?.();
  openGate = undefined;
  await h?.stop();
  h = undefined;
});

const REASON = "rewrap stuck on a vault incident, superseded by hand";
const breakPath = (keyId: string) => `/api/locks/break/${encodeURIComponent(keyId)}`;
const lockOf = async (api: ApiHost, keyId: string) => (await api.host.client.readEntity<LockState>({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) })).state;

/** A KEK with DEKs whose rotation is stuck in its rewrap: every unwrap waits on a gate that, once
 * opened, fails (so the stranded range activity writes nothing). Returns the stuck rotation's id. */
async function stuckInRewrap(api: ApiHost): Promise<{ keyId: string; rotationId: string; v1: string }> {
  const { keyId, v1 } = await seedKey(api.mem, "kek", "tenant-kek");
  const vault = api.mem.rotation.vault;
  for (let i = 0; i < 5; i++) {
    const wrapped = await vault.wrapKey(VAULT, "tenant-kek", v1, Buffer.alloc(32, i + 1));
    api.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: i + 1, dekId: `d${i}`, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
  }
  const unwrap = vault.unwrapKey.bind(vault);
  let entered!: () => void;
  const inRewrap = new Promise<void>((r) => (entered = r));
  const gate = new Promise<void>((_, reject) => (openGate = () => reject(new Error("the vault incident ended"))));
  gate.catch(() => undefined);
  let stuck = true;
  // Only the rewrap's unwraps (under v1) are stuck: the validation probe under the new version is not.
  vault.unwrapKey = async (...args) => {
    if (stuck && args[2] === v1) {
      entered();
      await gate;
    }
    return unwrap(...args);
  };
  const rotationId = `${keyId}@manual:stuck`;
  const input: RotationRequest = { rotationId, keyId, trigger: "manual", actor: "olivia", reason: "stuck" };
  await api.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input });
  await inRewrap;
  // Later rotations' unwraps go through.
  const release = openGate;
  openGate = () => {
    stuck = false;
    release?.();
  };
  return { keyId, rotationId, v1 };
}

describe("breaking a running holder's lock", () => {
  it("stays a 409 without terminateOwner, and changes nothing", async () => {
    h = await startApiHost();
    const { keyId, rotationId } = await stuckInRewrap(h);
    const before = await snapshot(h.mem);
    const r = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON } });
    expect(r.status, r.body).toBe(409);
    expect(r.json().error).toMatchObject({ code: "LockLive", rotationId });
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.host.client.getStatus(instanceIdFor(rotationId)))?.runtimeStatus).toBe("Running");
  });

  it("terminates the holder and the rewrap legs it started before clearing the lock, records who did it, and the key rotates again", async () => {
    h = await startApiHost();
    const { keyId, rotationId, v1 } = await stuckInRewrap(h);
    const parent = instanceIdFor(rotationId);
    // Leg ids carry the parent's execution (lib/orchestration/rewrap: legInstanceIds).
    const legs = ((await (await fetch(`${h.host.url}/runtime/webhooks/durabletask/instances?runtimeStatus=Running&code=${h.host.durableWebhookKey}`)).json()) as { instanceId: string }[])
      .map((s) => s.instanceId).filter((id) => id.startsWith(`${parent}~`) && id.endsWith("~rewrap~1~0"));
    expect(legs).toHaveLength(1);
    const leg = legs[0]!;

    const r = await h.call("POST", breakPath(keyId), { as: ADMIN, body: { reason: REASON, terminateOwner: true } });
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toMatchObject({ keyId, previousOwner: rotationId, because: "ownerTerminated", terminated: [parent, leg], confirmed: true });
    expect((await h.host.client.getStatus(parent))?.runtimeStatus).toBe("Terminated");
    expect((await h.host.client.getStatus(leg))?.runtimeStatus).toBe("Terminated");
    expect((await lockOf(h, keyId))?.holder).toBeUndefined();
    const broken = (await chain(h.mem, keyId)).filter((e) => e.type === "LockBroken");
    expect(broken).toEqual([expect.objectContaining({ actor: "ada", reason: REASON, details: expect.objectContaining({ previousOwner: rotationId, because: "ownerTerminated" }) })]);

    // A step the terminated holder had already queued is refused at once, before any new grant.
    const straggler = { rotationId, keyId, version: v1, at: T0, fence: { owner: rotationId, token: 1 } };
    await expect(runActivity("promoteVersion", straggler, overPorts(h.mem.rotation))).rejects.toThrow(/FencedOut/);

    // The stranded range activity fails once the incident ends; a new rotation takes the key with a
    // newer fencing token and finishes the job.
    openGate?.();
    const next = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "rotate after the incident", mode: "manual" } });
    expect(next.status, next.body).toBe(202);
    const out = (await h.host.client.waitForCompletion(instanceIdFor(next.json().rotationId), { timeoutMs: 60_000 })).output as { outcome: string; versionAfter: string };
    expect(out.outcome).toBe("completed");
    const deks = await h.mem.rotation.deks.tenantDeks("tenant0");
    expect(new Set(deks.map((d) => d.kekVersion))).toEqual(new Set([out.versionAfter]));
    expect((await lockOf(h, keyId))?.fence).toBe(3);
  });
});
