// A rotation the timer or Event Grid started and the key's lock refused: nobody waited for the lock
// decision (they start, answer and let the orchestration record the outcome), so the orchestration
// writes the refusal to the key's ledger chain: Aborted, naming the rotation that holds the key.
// A manual start's refusal is answered to the person (409) and writes nothing.
import { describe, expect, it } from "vitest";
import { lockEntityKey } from "../../../lib/domain/rotation";
import type { MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedKey, VAULT } from "./fixtures";

async function ledgerOf(deps: MemoryRotationDeps, keyId: string) {
  const out = [];
  for await (const e of deps.ledger.entries(keyId)) out.push(e);
  return out;
}

async function refused(request: (keyId: string) => RotationRequest) {
  const deps = freshDeps();
  const { keyId } = await seedKey(deps, "kek", "k1");
  const driver = new Driver(deps);
  driver.entity(lockEntityKey(keyId), "tryAcquire", { owner: "other@manual:x", now: "2026-03-01T00:00:00Z", leaseUntil: "2026-03-01T01:00:00Z" });
  const out = (await driver.run(DURABLE.orchestrators.rotation, request(keyId))) as RotationOutput;
  expect(out).toMatchObject({ outcome: "refused", heldBy: "other@manual:x" });
  expect(await deps.vault.listKeyVersions(VAULT, "k1")).toHaveLength(1);
  return ledgerOf(deps, keyId);
}

describe("a refused start the trigger did not wait for is recorded by the orchestration", () => {
  it.each([
    ["the timer", "schedule", "system:timer", "@2026-03-01T00:00:00Z"],
    ["Event Grid", "expiry-event", "system:eventgrid", "@expiry:v1"],
  ] as const)("%s: an Aborted entry naming the holder, and nothing else", async (_who, trigger, actor, suffix) => {
    const entries = await refused((keyId) => ({ rotationId: `${keyId}${suffix}`, keyId, trigger, actor, reason: "due by policy" }));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ type: "Aborted", trigger, actor, rotationId: expect.stringContaining(suffix) as string, details: { heldBy: "other@manual:x", phase: "aborted" } });
  });

  it("a manual start's refusal writes nothing (the caller is answered 409)", async () => {
    const entries = await refused((keyId) => ({ rotationId: `${keyId}@manual:r1`, keyId, trigger: "manual", actor: "alice", reason: "routine rotation" }));
    expect(entries).toEqual([]);
  });
});
