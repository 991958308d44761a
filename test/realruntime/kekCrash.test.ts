// Issue 16 on the real Durable extension: the harness process is SIGKILLed in the middle of a KEK
// rotation (once while DEKs are being rewrapped, once while the new version is being promoted) and a
// new one is started on the same Azurite state. The rotation completes once: one new version, every
// DEK under it and readable, no ledger entry twice, and the ledger verifies.
import { afterAll, beforeAll, expect, it } from "vitest";
import { rotationClientOf } from "../../lib/api/http";
import type { ManagedKey } from "../../lib/domain/keys";
import { startRotation } from "../../lib/orchestration/start";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { checkDeks, ledgerEntries, VAULT, type SeededKek } from "../e2e/rotation/stack";
import { CRASH_RECOVERY_ENV, describeRealRuntime, reportSeconds, seedOwnKek, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

describeRealRuntime("a KEK rotation across a crash of the harness process", () => {
  let app: RealApp;
  beforeAll(async () => {
    app = await startRealApp({ taskHub: "kekcrashhub", env: CRASH_RECOVERY_ENV });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  async function until(what: string, done: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`[test] ${what} not seen after ${timeoutMs} ms\n${app.rt.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function start(seeded: SeededKek, tag: string): Promise<string> {
    const started = await startRotation(rotationClientOf(app.client), { rotationId: `${seeded.keyId}@manual:${tag}`, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 });
    expect(started.status).toBe("started");
    return started.instanceId;
  }

  /** After the restart: the rotation ends completed, exactly once. */
  async function expectCompletedOnce(seeded: SeededKek, instanceId: string, total: number): Promise<void> {
    const end = await waitForEnd(app.client, instanceId, 400_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-4000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ total, remainingOld: 0 });
    expect(await app.deps.vault.listKeyVersions(VAULT, seeded.name)).toHaveLength(2);
    const check = await checkDeks(app.stack, seeded);
    expect(check).toMatchObject({ mismatches: 0, count: total });
    expect([...check.versions]).toEqual([out.versionAfter]);
    expect((await app.deps.inventory.get(seeded.keyId))?.key.primaryVersion).toBe(out.versionAfter);
    const entries = await ledgerEntries(app.stack, seeded.keyId);
    const ids = entries.map((e) => e.entryId);
    expect(new Set(ids).size, JSON.stringify(ids)).toBe(ids.length);
    for (const type of ["VersionCreated", "Promoted", "RewrapCompleted", "Completed"]) {
      expect(entries.filter((e) => e.type === type), type).toHaveLength(1);
    }
    const verified = await app.services.ledger.verify();
    expect(verified, JSON.stringify(verified.firstBreak)).toMatchObject({ ok: true });
  }

  it("killed mid-rewrap and restarted on the same Azurite state, the rotation completes once and the ledger verifies", async () => {
    const t0 = Date.now();
    const seeded = await seedOwnKek(app, 4, 250, "crash-rewrap-kek");
    // Slow unwraps keep the rewrap running long enough to be interrupted.
    app.peers.vault.admin.setLatency("unwrapKey", 25);
    const instanceId = await start(seeded, "crash-rewrap");
    let v2 = "";
    await until("the promotion", async () => {
      v2 = (await app.deps.inventory.get(seeded.keyId))?.key.primaryVersion ?? seeded.v1;
      return v2 !== seeded.v1;
    });
    await until("the first rewrapped DEKs", async () => (await app.stack.dekStore.countByKekVersion(seeded.keyId, v2)) >= 100);
    await app.rt.crash();
    const atCrash = await app.stack.dekStore.countByKekVersion(seeded.keyId, v2);
    expect(atCrash).toBeLessThan(1000);
    app.peers.vault.admin.setLatency("unwrapKey", 0);
    await app.rt.restart();
    await expectCompletedOnce(seeded, instanceId, 1000);
    reportSeconds(`KEK rotation killed mid-rewrap (${atCrash}/1000 DEKs rewrapped at the kill) and restarted`, t0);
  }, 600_000);

  it("killed mid-promote (the inventory write lands after the kill, its result never recorded) and restarted, the rotation completes once and the ledger verifies", async () => {
    const t0 = Date.now();
    const seeded = await seedOwnKek(app, 2, 20, "crash-promote-kek");
    const inventory = app.deps.inventory;
    const put = inventory.put.bind(inventory);
    let killed = false;
    // The promoteVersion activity's one write: the harness dies while the activity runs, then the
    // write lands, so the extension never hears the activity's result and runs it again.
    inventory.put = async (key: ManagedKey, etag: string | undefined) => {
      if (!killed && key.keyId === seeded.keyId && key.primaryVersion !== seeded.v1) {
        killed = true;
        await app.rt.crash();
      }
      return put(key, etag);
    };
    try {
      const instanceId = await start(seeded, "crash-promote");
      await until("the kill in promoteVersion", () => Promise.resolve(killed));
      await app.rt.restart();
      await expectCompletedOnce(seeded, instanceId, 40);
    } finally {
      inventory.put = put;
    }
    expect(app.rt.bridge.calls.filter((c) => c.name === "promoteVersion" && c.payload.includes("crash-promote")).length).toBeGreaterThanOrEqual(2);
    reportSeconds("KEK rotation killed mid-promote and restarted", t0);
  }, 600_000);
});
