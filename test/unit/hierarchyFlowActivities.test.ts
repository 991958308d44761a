// The hierarchy's durable activities at their boundary: fenced like every mutating step (each
// checks its lock grant before it acts), refused with a clear error when the deployment has no branch-key signing key, and the
// consumers' dropCachedKeys signal read back from a rotation event.
import { describe, expect, it } from "vitest";
import { overPorts } from "../../lib/compose";
import { branchKeyEventOf, dropCachedKeysDetails } from "../../lib/envelope/branchKeyCache";
import { FENCED_ACTIVITIES } from "../../lib/orchestration/fence";
import { runActivity } from "../../lib/orchestration/handlers";
import { DURABLE } from "../../lib/orchestration/names";
import { freshDeps, seedKey } from "./orchestration/fixtures";

describe("the hierarchy's durable activities", () => {
  it("are fenced: without the lock's grant, or with a grant never recorded, they are refused", async () => {
    expect(FENCED_ACTIVITIES.has(DURABLE.activities.hierarchyKekRotation)).toBe(true);
    expect(FENCED_ACTIVITIES.has(DURABLE.activities.hierarchyEmergency)).toBe(true);
    const deps = freshDeps();
    const { keyId, v1 } = await seedKey(deps, "kek", "tenant-kek");
    const input = { rotationId: `${keyId}@manual:x`, keyId, newVersion: "v2", actor: "alice" };
    await expect(runActivity("hierarchyKekRotation", input, overPorts(deps))).rejects.toThrow(/\[invariantViolation\] Unfenced/);
    await expect(runActivity("hierarchyEmergency", { ...input, compromisedVersion: v1 }, overPorts(deps))).rejects.toThrow(/\[invariantViolation\] Unfenced/);
    await expect(runActivity("hierarchyKekRotation", { ...input, fence: { owner: input.rotationId, token: 1 } }, overPorts(deps))).rejects.toThrow(/\[invariantViolation\] FencedOut/);
  });

  it("refuse to run without a branch-key signing key, naming the setting, and refuse bad input with a 4xx", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "kek", "tenant-kek");
    const rotationId = `${keyId}@manual:x`;
    await deps.fences.write(keyId, { owner: rotationId, token: 1 }, undefined);
    const fence = { owner: rotationId, token: 1 };
    await expect(runActivity("hierarchyKekRotation", { rotationId, keyId, newVersion: "v2", actor: "alice", fence }, overPorts(deps)))
      .rejects.toThrow(/HierarchyNotConfigured.*KEYROTOR_BRANCH_SIGNING_KEY_ID/);
    await expect(runActivity("hierarchyEmergency", { rotationId, keyId, newVersion: "v2", actor: "alice", fence }, overPorts(deps)))
      .rejects.toThrow(/\[invalidRequest\] ActivityInputInvalid.*compromisedVersion/);
  });
});

describe("the dropCachedKeys signal in a rotation event", () => {
  it("round-trips a hierarchy event through an event's flat details, naming a few branch keys or all of them", () => {
    const kekKeyId = "kek:demo-vault/tenant-kek";
    const some = { type: "BranchKeysDestroyed" as const, kekKeyId, branchIds: ["s2-0", "d-t-iso"] };
    expect(branchKeyEventOf({ keyId: kekKeyId, details: dropCachedKeysDetails(some) })).toEqual(some);
    const many = { type: "BranchKeysDestroyed" as const, kekKeyId, branchIds: Array.from({ length: 300 }, (_, i) => `s300-${i}`) };
    expect(branchKeyEventOf({ keyId: kekKeyId, details: dropCachedKeysDetails(many) })).toEqual({ type: "BranchKeysDestroyed", kekKeyId });
    expect(branchKeyEventOf({ keyId: kekKeyId, details: dropCachedKeysDetails({ type: "BranchKeysRotated", kekKeyId }) })).toEqual({ type: "BranchKeysRotated", kekKeyId });
  });

  it("asks nothing of an event without it", () => {
    expect(branchKeyEventOf({ keyId: "kek:v/k", details: { counts: 3 } })).toBeUndefined();
    expect(branchKeyEventOf({ keyId: "kek:v/k" })).toBeUndefined();
    expect(branchKeyEventOf({ keyId: "kek:v/k", details: { dropCachedKeys: "true" } })).toBeUndefined();
  });
});
