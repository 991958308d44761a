// The rotation workflows on the in-process durable host (real durable-functions replay engine,
// determinism checks, crash/resume), with the memory adapters of the rotation ports.
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, startHost, type DevHost } from "../../../dev/host";
import { RotationConflictError } from "../../../lib/domain/errors";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { setRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { assertAllReadable, freshDeps, seedKekWithDeks, VAULT } from "../../unit/orchestration/fixtures";

const FUNCTIONS = ["rotationOrchestrator", "rewrapOrchestrator", "dekFanOutOrchestrator", "retirementOrchestrator", "rollbackOrchestrator", "keyLock",
  ...Object.values(DURABLE.activities)].map((f) => path.resolve(__dirname, "../../../functions", `${f}.ts`));

let host: DevHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
  setRotationDeps(undefined);
});

async function ledgerTypes(deps: ReturnType<typeof freshDeps>, keyId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of deps.ledger.entries(keyId)) out.push(`${e.entryId}`);
  return out;
}

describe("KEK rotation on the durable host", () => {
  it("rotates 5 tenants x 200 DEKs: one new version, every DEK readable under it, ledger verifies", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 5, 200);
    setRotationDeps(deps);
    host = await startHost({ entry: FUNCTIONS, clock: new ManualClock("2026-03-01T00:00:00Z") });
    const started = await startRotation(host.client, { rotationId: `${seeded.keyId}@manual:r1`, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 });
    const done = await host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 });
    const out = done.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(await deps.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    const check = await assertAllReadable(deps, seeded);
    expect(check.mismatches).toBe(0);
    expect([...check.versions]).toEqual([out.versionAfter]);
    expect((await deps.ledger.verify()).ok).toBe(true);
  });

  it("20 simultaneous starts from different triggers: exactly one runs, the others are refused with its rotationId", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    setRotationDeps(deps);
    host = await startHost({ entry: FUNCTIONS, clock: new ManualClock("2026-03-01T00:00:00Z") });
    const triggers = ["manual", "schedule", "expiry-event", "emergency"] as const;
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
      startRotation(host!.client, { rotationId: `${seeded.keyId}@${triggers[i % 4]}:${i}`, keyId: seeded.keyId, trigger: triggers[i % 4]!, actor: "system" })));
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    const winner = (ok[0] as PromiseFulfilledResult<{ rotationId: string; instanceId: string }>).value;
    expect(refused).toHaveLength(19);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(RotationConflictError);
      expect((r.reason as RotationConflictError).runningRotationId).toBe(winner.rotationId);
    }
    await host.client.waitForCompletion(winner.instanceId);
    expect(await deps.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
  });

  it("crashes and resumes at activity boundaries and ends in the same state", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 3, 50);
    setRotationDeps(deps);
    host = await startHost({ entry: FUNCTIONS, clock: new ManualClock("2026-03-01T00:00:00Z") });
    const rotationId = `${seeded.keyId}@manual:crash`;
    await host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input: { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 10 } });
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 15));
      await host.crash();
      await host.resume();
    }
    const done = await host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect((done.output as RotationOutput).outcome).toBe("completed");
    expect(await deps.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    const ids = await ledgerTypes(deps, seeded.keyId);
    expect(new Set(ids).size).toBe(ids.length);
    expect((await assertAllReadable(deps, seeded)).mismatches).toBe(0);
    expect((await host.client.readEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(seeded.keyId) })).state).toEqual({});
  });

  it("a terminated rotation's lease expires: after leaseUntil a new rotation proceeds and LockBroken is in the ledger", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 50);
    setRotationDeps(deps);
    const clock = new ManualClock("2026-03-01T00:00:00Z");
    host = await startHost({ entry: FUNCTIONS, clock });
    // A propagation wait on the manual clock keeps it holding the lock until it is terminated.
    const first = await startRotation(host.client, { rotationId: `${seeded.keyId}@manual:dies`, keyId: seeded.keyId, trigger: "manual", actor: "alice", propagationDelay: "PT1H" });
    await host.idle();
    await host.client.terminate(first.instanceId, "simulated death");
    await host.idle();
    await expect(startRotation(host.client, { rotationId: `${seeded.keyId}@manual:early`, keyId: seeded.keyId, trigger: "manual", actor: "bob" }))
      .rejects.toMatchObject({ runningRotationId: `${seeded.keyId}@manual:dies` });
    clock.advance(16 * 60_000);
    const second = await startRotation(host.client, { rotationId: `${seeded.keyId}@manual:after`, keyId: seeded.keyId, trigger: "manual", actor: "bob" });
    const done = await host.client.waitForCompletion(second.instanceId, { timeoutMs: 60_000 });
    expect((done.output as RotationOutput).outcome).toBe("completed");
    const broken = [];
    for await (const e of deps.ledger.entries(seeded.keyId)) if (e.type === "LockBroken") broken.push(e);
    expect(broken).toHaveLength(1);
    expect(broken[0]!.details?.previousOwner).toBe(`${seeded.keyId}@manual:dies`);
    expect((await assertAllReadable(deps, seeded)).mismatches).toBe(0);
  });
});
