// Invariant 8: a lock grant carries a fencing token, and every mutating step checks it before it
// acts. The scenarios interleave two rotations of one key on the in-process driver: rotation A's
// lease runs out while it is between two steps, rotation B takes the key over, then A resumes.
import { describe, expect, it } from "vitest";
import type { MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { overPorts } from "../../../lib/compose";
import { runActivity } from "../../../lib/orchestration/handlers";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { assertAllReadable, freshDeps, seedKekWithDeks, seedKey, seedPolicy, testPolicy, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;
const A = DURABLE.activities;
const LEASE_MS = 15 * 60_000;

const rotation = (keyId: string, name: string, extra: Partial<RotationRequest> = {}): RotationRequest => ({
  rotationId: `${keyId}@manual:${name}`, keyId, trigger: "manual", actor: "alice", reason: "test", leaseDuration: "PT15M", ...extra,
});

async function ledgerOf(deps: MemoryRotationDeps, keyId: string) {
  const out = [];
  for await (const e of deps.ledger.entries(keyId)) out.push(e);
  return out;
}

/** Runs rotation `a`; right before its first `step` activity, lets its lease run out and runs
 * rotation `b` of the same key to the end, then lets `a` go on. */
async function takeOverBefore(driver: Driver, step: string, a: RotationRequest, b: RotationRequest): Promise<{ a: RotationOutput; b?: RotationOutput }> {
  let b_out: RotationOutput | undefined;
  driver.beforeActivity = async (name, input) => {
    if (name !== step || b_out || (input as { rotationId?: string }).rotationId !== a.rotationId) return;
    driver.now = new Date(driver.now.getTime() + LEASE_MS + 60_000);
    b_out = (await driver.run(O.rotation, b, "b")) as RotationOutput;
  };
  const a_out = (await driver.run(O.rotation, a, "a")) as RotationOutput;
  return { a: a_out, ...(b_out ? { b: b_out } : {}) };
}

describe("fenced locks", () => {
  it("refuses the promote of a rotation whose lease expired and was taken over, and that rotation changes nothing", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 10);
    const driver = new Driver(deps);
    const ra = rotation(seeded.keyId, "a");
    const rb = rotation(seeded.keyId, "b");
    const out = await takeOverBefore(driver, A.promoteVersion, ra, rb);

    expect(out.b, JSON.stringify(out.b)).toMatchObject({ outcome: "completed" });
    expect(out.a).toMatchObject({ outcome: "failed", error: { code: "FencedOut" } });
    const inv = (await deps.inventory.get(seeded.keyId))!.key;
    expect(inv.primaryVersion).toBe(out.b!.versionAfter);
    expect(inv.lastRotationId).toBe(rb.rotationId);
    // Every DEK stays under B's version and readable: A rewrapped nothing back.
    const check = await assertAllReadable(deps, seeded);
    expect(check.mismatches).toBe(0);
    expect([...check.versions]).toEqual([out.b!.versionAfter]);
    const promotedByA = (await ledgerOf(deps, seeded.keyId)).filter((e) => e.rotationId === ra.rotationId && (e.type === "Promoted" || e.type === "RewrapProgress"));
    expect(promotedByA).toEqual([]);
    const promotes = driver.trace.activities.filter((x) => x.name === A.promoteVersion).map((x) => (x.input as { rotationId: string }).rotationId);
    expect(promotes).toEqual([rb.rotationId]);
  });

  it("refuses the first mutating step after a take-over, so the stale rotation creates no version in the vault", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "signing", "signer");
    const driver = new Driver(deps);
    const ra = rotation(keyId, "a");
    const out = await takeOverBefore(driver, A.createKeyVersion, ra, rotation(keyId, "b"));
    expect(out.b, JSON.stringify(out.b)).toMatchObject({ outcome: "completed" });
    expect(out.a).toMatchObject({ outcome: "failed", error: { code: "FencedOut" } });
    const versions = await deps.vault.listKeyVersions(VAULT, "signer");
    expect(versions.filter((v) => v.tags.rotationId === ra.rotationId)).toEqual([]);
    expect(versions).toHaveLength(2);
  });

  it("fences a tenant's DEK rotation by the tenant's DEK lock, also when it names the KEK to wrap under", async () => {
    const deps = freshDeps();
    const { keyId: kekKeyId } = await seedKey(deps, "kek", "dek-kek");
    await seedPolicy(deps, testPolicy("t1", "t1-deks", ["dek"]));
    const driver = new Driver(deps);
    const first = (await driver.run(O.rotation, rotation("dek:t1", "first", { kekKeyId }), "d1")) as RotationOutput;
    expect(first, JSON.stringify(first)).toMatchObject({ outcome: "completed" });
    const fenced = driver.trace.activities.find((x) => x.name === A.rotateTenantDek)?.input as { fence?: unknown };
    expect(fenced.fence).toEqual({ owner: "dek:t1@manual:first", token: 1 });
    expect((await deps.fences.read("dek:t1"))?.record).toEqual({ owner: "dek:t1@manual:first", token: 1 });
    expect(await deps.fences.read(kekKeyId)).toBeUndefined();
  });

  it("refuses a mutating activity that carries no grant, or a grant that was never recorded, and changes nothing", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedKey(deps, "signing", "signer");
    const before = JSON.stringify(await deps.vault.listKeyVersions(VAULT, "signer"));
    const input = { rotationId: `${keyId}@manual:x`, keyId, at: "2026-03-01T00:00:00Z" };
    await expect(runActivity("createKeyVersion", input, overPorts(deps))).rejects.toThrow(/\[invariantViolation\] Unfenced/);
    await expect(runActivity("createKeyVersion", { ...input, fence: { owner: input.rotationId, token: 1 } }, overPorts(deps))).rejects.toThrow(/\[invariantViolation\] FencedOut/);
    await expect(runActivity("setKeyOps", { keyId, version: v1, keyOps: ["verify"] }, overPorts(deps))).rejects.toThrow(/Unfenced/);
    expect(JSON.stringify(await deps.vault.listKeyVersions(VAULT, "signer"))).toBe(before);
    // Reads are not fenced.
    await expect(runActivity("loadRotationContext", { keyId }, overPorts(deps))).resolves.toMatchObject({ keyId });
  });

  it("renews the lease before a mutating step once a third of it has passed, and counts the renewals", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "signing", "signer");
    const driver = new Driver(deps);
    // Each step takes 6 minutes of a 15-minute lease.
    driver.beforeActivity = () => {
      driver.now = new Date(driver.now.getTime() + 6 * 60_000);
    };
    const out = (await driver.run(O.rotation, rotation(keyId, "slow"), "s")) as RotationOutput;
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "completed" });
    expect(out.counts?.leaseRenewals).toBeGreaterThanOrEqual(3);
    const completed = (await ledgerOf(deps, keyId)).find((e) => e.type === "Completed");
    expect(completed?.counts?.leaseRenewals).toBe(out.counts?.leaseRenewals);
  });

  it("stops before its next mutating step when its lease cannot be renewed, so the key's new holder is never overwritten", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedKey(deps, "signing", "signer");
    const driver = new Driver(deps);
    const ra = rotation(keyId, "a");
    let taken = false;
    driver.beforeActivity = (name, input) => {
      if (name !== A.createKeyVersion || taken || (input as { rotationId?: string }).rotationId !== ra.rotationId) return;
      taken = true;
      // The lease runs out during the step and another rotation is granted the key (its first steps not yet run).
      driver.now = new Date(driver.now.getTime() + LEASE_MS + 60_000);
      driver.entity(lockEntityKey(keyId), "tryAcquire", { owner: "other", now: driver.now.toISOString(), leaseUntil: new Date(driver.now.getTime() + LEASE_MS).toISOString() });
    };
    const out = (await driver.run(O.rotation, ra, "a")) as RotationOutput;
    expect(out).toMatchObject({ outcome: "failed", error: { code: "LockLost" } });
    expect(driver.trace.activities.filter((x) => x.name === A.promoteVersion || x.name === A.publishJwks)).toEqual([]);
    expect((await deps.inventory.get(keyId))?.key.primaryVersion).toBe(v1);
    expect(driver.locks.get(lockEntityKey(keyId))?.holder?.owner).toBe("other");
  });
});
