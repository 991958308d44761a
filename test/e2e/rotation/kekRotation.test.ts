// The KEK workflow on real parts: in-process durable host with its history in Azurite, the Key
// Vault peer and the Service Bus peer through the real SDK clients, every adapter built by
// createRotationDeps(cfg) from settings.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { describe, expect, it } from "vitest";
import { app, type PostInvocationContext, type PreInvocationContext } from "@azure/functions";
import { ManualClock } from "../../../dev/host";
import { RotationConflictError } from "../../../lib/domain/errors";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation, type StartedRotation } from "../../../lib/orchestration/start";
import { rotationStatusView } from "../../../lib/orchestration/status";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { checkDeks, drainEvents, encodings, historyText, ledgerEntries, seedKekWithDeks, stackSuite, VAULT, type Stack } from "./stack";

const suite = stackSuite();
let stack: Stack | undefined;

const ACTIVITIES = new Set<string>(Object.values(DURABLE.activities));

async function vaultVersions(s: Stack, name: string): Promise<string[]> {
  return (await s.deps.vault.listKeyVersions(VAULT, name)).map((v) => v.version);
}

async function expectCleanEnd(s: Stack, seeded: Awaited<ReturnType<typeof seedKekWithDeks>>, out: RotationOutput): Promise<void> {
  expect(out.outcome, JSON.stringify(out)).toBe("completed");
  expect(await vaultVersions(s, seeded.name)).toHaveLength(2);
  const check = await checkDeks(s, seeded);
  expect(check.mismatches).toBe(0);
  expect([...check.versions]).toEqual([out.versionAfter]);
  const ids = (await ledgerEntries(s, seeded.keyId)).map((e) => e.entryId);
  expect(new Set(ids).size).toBe(ids.length);
  const v = await s.deps.ledger.verify();
  expect(v, JSON.stringify(v.firstBreak)).toMatchObject({ ok: true });
  expect(v.seals).toBeGreaterThan(0);
  expect((await s.host.client.readEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(seeded.keyId) })).state).toEqual({ fence: expect.any(Number) as number });
}

describe("KEK rotation on the durable host with Azurite, the Key Vault peer and the Service Bus peer", () => {
  it("rotates 5 tenants x 200 DEKs: one new version, every DEK unwraps to its plaintext under it, the sealed ledger verifies, and nothing persisted, logged or published holds a plaintext", async () => {
    stack = await suite.start();
    const seeded = await seedKekWithDeks(stack, suite.peers, 5, 200);
    const rotationId = `${seeded.keyId}@manual:r1`;
    const started = await startRotation(stack.host.client, { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 });
    const done = await stack.host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 });
    const out = done.output as RotationOutput;
    await expectCleanEnd(stack, seeded, out);
    expect(out.counts).toMatchObject({ rewrapped: 1000, total: 1000, remainingOld: 0 });
    expect((await stack.deps.inventory.get(seeded.keyId))?.key).toMatchObject({ primaryVersion: out.versionAfter });

    const view = rotationStatusView(rotationId, done);
    expect(view).toMatchObject({ rotationId, keyId: seeded.keyId, trigger: "manual", phase: "completed", runtimeStatus: "Completed", outcome: "completed", progress: { rewrapped: 1000, total: 1000 } });

    const events = await drainEvents(stack);
    const types = events.map((e) => (e.body as { type: string }).type);
    expect(types).toEqual(expect.arrayContaining(["RotationStarted", "VersionCreated", "Promoted", "RewrapProgress", "RotationCompleted"]));
    expect(new Set(events.map((e) => e.messageId)).size).toBe(events.length);
    // A consumer sees the lifecycle in order (Service Bus keeps publish order on one topic).
    const lifecycle = types.filter((t) => ["RotationStarted", "VersionCreated", "Promoted", "RewrapProgress", "RotationCompleted"].includes(t));
    expect(lifecycle.join(" ")).toMatch(/^RotationStarted VersionCreated Promoted( RewrapProgress)+ RotationCompleted$/);
    for (const e of events) {
      const g = (e.body as { guidance: Record<string, unknown> }).guidance;
      expect(g).toEqual({
        encryptionImpacted: expect.any(Boolean), decryptionValid: expect.any(Boolean), customerActionRequired: expect.any(Boolean),
        manualInterventionSafe: expect.any(Boolean), recommendedAction: expect.stringMatching(/\w/),
      });
    }

    const haystack = [
      JSON.stringify(await stack.host.client.getStatus(started.instanceId, { showHistory: true })),
      await historyText(stack),
      stack.logs.join("\n"),
      JSON.stringify(events),
      JSON.stringify(await ledgerEntries(stack, seeded.keyId)),
    ].join("\n");
    expect(haystack).toContain(rotationId); // the scan reads what it should
    let leaks = 0;
    for (const mine of seeded.plaintexts.values()) for (const p of mine.values()) for (const enc of encodings(p)) if (haystack.includes(enc)) leaks++;
    expect(leaks).toBe(0);
  });

  it("20 simultaneous starts for one key from different triggers: exactly one runs, every other is refused with its rotationId", async () => {
    stack = await suite.start();
    const seeded = await seedKekWithDeks(stack, suite.peers, 1, 5, "race-kek");
    const triggers = ["manual", "schedule", "expiry-event", "emergency"] as const;
    const s = stack;
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
      startRotation(s.host.client, { rotationId: `${seeded.keyId}@${triggers[i % 4]}:${i}`, keyId: seeded.keyId, trigger: triggers[i % 4]!, actor: "system" })));
    const ok = results.filter((r): r is PromiseFulfilledResult<StartedRotation> => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(RotationConflictError);
      expect((r.reason as RotationConflictError).runningRotationId).toBe(ok[0]!.value.rotationId);
    }
    const done = await s.host.client.waitForCompletion(ok[0]!.value.instanceId, { timeoutMs: 30_000 });
    await expectCleanEnd(s, seeded, done.output as RotationOutput);
  });

  it("crashes before and after EVERY activity of the KEK workflow (each one once) and ends as without a crash", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 2, 30, "crash-kek");
    const seenStart = new Set<string>();
    const seenEnd = new Set<string>();
    const crashes: string[] = [];
    const crashNow = async (why: string): Promise<void> => {
      crashes.push(why);
      await s.host.crash();
      setImmediate(() => void s.host.resume({ visibilityTimeoutMs: 0 }));
    };
    const keyOf = (c: PreInvocationContext | PostInvocationContext): string | undefined => {
      const name = c.invocationContext.functionName;
      return ACTIVITIES.has(name) ? `${name}:${JSON.stringify(c.inputs)}` : undefined;
    };
    // Hooks are how the Functions worker lets an app wrap invocations; the host runs them as it would.
    const pre = app.hook.preInvocation(async (c) => {
      const key = keyOf(c);
      if (!key || seenStart.has(key)) return;
      seenStart.add(key);
      await crashNow(`before ${key}`);
      c.functionHandler = () => null; // the process died: the activity never runs
    });
    const post = app.hook.postInvocation(async (c) => {
      const key = keyOf(c);
      if (!key || seenEnd.has(key) || c.error) return;
      seenEnd.add(key);
      await crashNow(`after ${key}`); // the work is done, its result is lost
    });
    try {
      const rotationId = `${seeded.keyId}@manual:crash`;
      await s.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input: { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 25 } });
      const done = await s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
      await expectCleanEnd(s, seeded, done.output as RotationOutput);
      // Every distinct activity invocation was crashed before it ran and after it did its work.
      expect(seenStart.size).toBeGreaterThanOrEqual(15);
      expect([...seenStart].sort()).toEqual([...seenEnd].sort());
      expect(crashes).toHaveLength(seenStart.size * 2);
      for (const a of ["loadRotationContext", "createKeyVersion", "promoteVersion", "countReferences", "sealLedger", "recordStep"]) {
        expect([...seenEnd].some((k) => k.startsWith(`${a}:`)), a).toBe(true);
      }
      // The rewrap's own activities (whatever issue 6 names them) were crashed too.
      expect([...seenEnd].filter((k) => /^rewrap/i.test(k)).length).toBeGreaterThanOrEqual(2);
    } finally {
      pre.dispose();
      post.dispose();
    }
  });

  it("crashes at random moments inside the rewrap and ends as without a crash", async () => {
    let seed = Number(process.env.KEYROTOR_CRASH_SEED ?? Date.now() % 100_000);
    const initialSeed = seed;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 2, 300, "random-kek");
    const rotationId = `${seeded.keyId}@manual:random`;
    const id = instanceIdFor(rotationId);
    await s.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: id, input: { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 } });
    // Whatever shape the rewrap takes, a crash while the rotation reports phase "rewrapping" lands
    // inside it: between unwraps, between Table transactions, or between a commit and its result.
    let crashesInRewrap = 0;
    for (let polls = 0; crashesInRewrap < 4 && polls < 2_000; polls++) {
      const st = await s.host.client.getStatus(id);
      if (!st || ["Completed", "Failed", "Terminated"].includes(st.runtimeStatus ?? "")) break;
      if ((st.customStatus as { phase?: string } | undefined)?.phase === "rewrapping") {
        await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
        await s.host.crash();
        crashesInRewrap++;
        await s.host.resume({ visibilityTimeoutMs: 0 });
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const done = await s.host.client.waitForCompletion(id, { timeoutMs: 60_000 });
    expect(crashesInRewrap, `seed ${initialSeed}`).toBeGreaterThanOrEqual(1);
    await expectCleanEnd(s, seeded, done.output as RotationOutput);
  });

  it("an orchestration terminated while holding the lock: starts are refused until leaseUntil, then a new rotation proceeds and LockBroken is in the ledger", async () => {
    const clock = new ManualClock(new Date().toISOString());
    const s = await suite.start({ clock });
    const seeded = await seedKekWithDeks(s, suite.peers, 2, 20, "lease-kek");
    // A propagation wait on the manual clock keeps it holding the lock until it is terminated.
    const first = await startRotation(s.host.client, { rotationId: `${seeded.keyId}@manual:dies`, keyId: seeded.keyId, trigger: "manual", actor: "alice", propagationDelay: "PT1H" });
    await s.host.idle();
    await s.host.client.terminate(first.instanceId, "simulated death");
    await s.host.idle();
    await expect(startRotation(s.host.client, { rotationId: `${seeded.keyId}@manual:early`, keyId: seeded.keyId, trigger: "manual", actor: "bob" }))
      .rejects.toMatchObject({ runningRotationId: `${seeded.keyId}@manual:dies` });
    clock.advance(16 * 60_000);
    const second = await startRotation(s.host.client, { rotationId: `${seeded.keyId}@manual:after`, keyId: seeded.keyId, trigger: "manual", actor: "bob" });
    const done = await s.host.client.waitForCompletion(second.instanceId, { timeoutMs: 60_000 });
    const out = done.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    const broken = (await ledgerEntries(s, seeded.keyId)).filter((e) => e.type === "LockBroken");
    expect(broken).toHaveLength(1);
    expect(broken[0]!.details?.previousOwner).toBe(`${seeded.keyId}@manual:dies`);
    // The dead rotation made a version before it died; the new one made its own: no DEK is lost.
    const check = await checkDeks(s, seeded);
    expect(check.mismatches).toBe(0);
    expect([...check.versions]).toEqual([out.versionAfter]);
    expect((await s.deps.ledger.verify()).ok).toBe(true);
  });
});
