// Milestone (c) of issue 16: keyrotor's keyLock entity, unchanged, on the real Durable extension's
// entity implementation (DurableTask.AzureStorage on Azurite): 20 orchestrations that try to take the
// same key's lease at the same moment get exactly one grant; the other 19 see that holder.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AcquireResult } from "../../lib/domain/rotation";
import { rotationClientOf } from "../../lib/api/http";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { describeRealRuntime, durableClient, waitForEnd } from "./realRuntimeSupport";

describeRealRuntime("keyLock contention", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: [path.resolve(__dirname, "../fixtures/realRuntime/lockContenders.ts")], taskHub: "lockhub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  it("grants 20 simultaneous acquisitions of one key's lease exactly once", async () => {
    const client = durableClient(rt.client);
    const keyId = "https://vault.example/keys/kek-tenant-a";
    const owners = Array.from({ length: 20 }, (_, i) => `rotation-${i}`);
    const ids = await Promise.all(owners.map((owner) => client.startNew("lockContender", { input: { keyId, owner } })));
    const ends = await Promise.all(ids.map((id) => waitForEnd(client, id, 150_000)));
    expect(ends.map((s) => s.runtimeStatus), rt.output().slice(-4000)).toEqual(ids.map(() => "Completed"));
    const results = ends.map((s) => s.output as AcquireResult);
    const granted = results.filter((r) => r.granted);
    expect(granted).toHaveLength(1);
    const winner = granted[0]!.lease;
    expect(winner.token).toBe(1);
    for (const r of results.filter((x) => !x.granted)) expect(r.heldBy).toEqual(winner);
    // The entity's persisted state, read through the extension's RPC endpoint by the app's own
    // client calls (the lock view's readLockState), names the same holder: that endpoint decodes the
    // path twice, and lockEntityKey() holds nothing a decoding changes.
    const app = rotationClientOf(client);
    const state = await app.readLockState!(keyId);
    expect(state?.holder?.owner).toBe(winner.owner);
    // One entity batch may carry several operations: the extension delivered all 20 tryAcquires.
    const ops = rt.bridge.calls.filter((c) => c.kind === "entity").flatMap((c) => (JSON.parse(c.payload) as { batch: unknown[] }).batch);
    expect(ops.length).toBeGreaterThanOrEqual(20);
    // breakLock's signal through the app's client reaches the same entity: the holder is cleared.
    await app.forceReleaseLock!(keyId, winner.owner, "alice");
    const deadline = Date.now() + 60_000;
    let after = await app.readLockState!(keyId);
    while (after?.holder && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await app.readLockState!(keyId);
    }
    expect(after).toBeDefined();
    expect(after?.holder).toBeUndefined();
    expect(after?.fence).toBe(1);
    // The real extension hands entity names to the app lower-cased.
    const names = new Set(rt.bridge.calls.filter((c) => c.kind === "entity").map((c) => (JSON.parse(c.payload) as { self: { name: string } }).self.name));
    expect([...names]).toEqual(["keylock"]);
  }, 200_000);
});
