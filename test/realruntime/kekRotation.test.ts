// Milestone (d) of issue 16: keyrotor's rotation orchestrator, its sub-orchestrators, activities and
// the keyLock entity, unchanged, on the real Durable extension 3.19.0, rotating a KEK with 5 tenants x 200 DEKs
// against the Key Vault peer (the Service Bus peer and the app's tables as in test/e2e/rotation).
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRotation, type StartedRotation } from "../../lib/orchestration/start";
import { rotationClientOf } from "../../lib/api/http";
import { instanceIdFor } from "../../lib/orchestration/names";
import { RotationConflictError } from "../../lib/domain/errors";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { checkDeks, ledgerEntries, VAULT } from "../e2e/rotation/stack";
import { describeRealRuntime, durableClient, reportSeconds, seedOwnKek, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

describeRealRuntime("KEK rotation", () => {
  let app: RealApp;
  beforeAll(async () => {
    // The app's own composition from settings, handed to it at appStart (realRuntimeSupport.ts).
    app = await startRealApp({ taskHub: "rotationhub" });
  }, 240_000);
  const keyVersions = async (name: string): Promise<string[]> => (await app.deps.vault.listKeyVersions(VAULT, name)).map((v) => v.version);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  it("rotates a KEK of 5 tenants x 200 DEKs: one new version, every DEK unwraps to its plaintext under it, no duplicate ledger entry, the ledger verifies", async () => {
    const t0 = Date.now();
    const seeded = await seedOwnKek(app, 5, 200, "tenant-kek");
    const client = durableClient(app.rt.client);
    // The app's own durable calls (lib/api/http.ts), unencoded: the extension's RPC endpoint decodes
    // the path twice, and instanceIdFor() of a KEK rotation ("kek:vault/name@…") holds nothing a
    // decoding changes, so start and status reach the instance the app named.
    const starter = rotationClientOf(client);
    const rotationId = `${seeded.keyId}@manual:real1`;
    const started = await startRotation(starter, { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 });
    expect(started.instanceId).toBe(instanceIdFor(rotationId));
    expect(started.instanceId).not.toMatch(/[%/]/);
    expect(started.status).toBe("started");
    const end = await waitForEnd(client, started.instanceId, 240_000);
    expect((await starter.getStatus(started.instanceId))?.runtimeStatus).toBe("Completed");
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-6000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ rewrapped: 1000, total: 1000, remainingOld: 0 });
    const check = await checkDeks(app.stack, seeded);
    expect(check).toMatchObject({ mismatches: 0, count: 1000 });
    expect([...check.versions]).toEqual([out.versionAfter]);
    const ids = (await ledgerEntries(app.stack, seeded.keyId)).map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
    const v = await app.services.ledger.verify();
    expect(v, JSON.stringify(v.firstBreak)).toMatchObject({ ok: true });
    // The lock view's read (the keyLock entity of a Key Vault keyId) finds the released lease.
    const lock = await starter.readLockState!(seeded.keyId);
    expect(lock?.fence).toBeGreaterThanOrEqual(1);
    expect(lock?.holder).toBeUndefined();
    reportSeconds("KEK rotation 5 tenants x 200 DEKs", t0);
  }, 300_000);

  it("20 simultaneous starts for one key from different triggers: exactly one runs, every other is refused with its rotationId", async () => {
    const seeded = await seedOwnKek(app, 1, 5, "race-kek");
    const client = durableClient(app.rt.client);
    const starter = rotationClientOf(client);
    const triggers = ["manual", "schedule", "expiry-event", "emergency"] as const;
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
      startRotation(starter, { rotationId: `${seeded.keyId}@${triggers[i % 4]}:${i}`, keyId: seeded.keyId, trigger: triggers[i % 4]!, actor: "system" }, { decisionTimeoutMs: 120_000 })));
    const ok = results.filter((r): r is PromiseFulfilledResult<StartedRotation> => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok, JSON.stringify(refused.map((r) => String(r.reason)))).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(RotationConflictError);
      expect((r.reason as RotationConflictError).runningRotationId).toBe(ok[0]!.value.rotationId);
    }
    const end = await waitForEnd(client, ok[0]!.value.instanceId, 240_000);
    expect(end.runtimeStatus, JSON.stringify(end.output)).toBe("Completed");
    expect((end.output as RotationOutput).outcome).toBe("completed");
    const check = await checkDeks(app.stack, seeded);
    expect(check).toMatchObject({ mismatches: 0, count: 5 });
    expect((await keyVersions(seeded.name))).toHaveLength(2);
  }, 400_000);
});
