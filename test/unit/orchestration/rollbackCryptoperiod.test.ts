// A rollback re-promotes an older version: it must not count as a fresh rotation in the inventory,
// whose lastRotatedAt anchors the planner's next slot (that would hide an overdue key).
import { describe, expect, it } from "vitest";
import { promoteVersion } from "../../../lib/orchestration/activities";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { seedKey, T0, VAULT } from "./fixtures";

describe("rollback and the cryptoperiod in the inventory", () => {
  it("puts lastRotatedAt back to the re-promoted version instead of the rollback's or the undone rotation's time", async () => {
    const deps = memoryRotationDeps();
    const { keyId, v1 } = await seedKey(deps, "kek", "k1");
    const v2 = deps.vault.seedKey(VAULT, "k1");
    await promoteVersion(deps, { rotationId: `${keyId}@manual:r2`, keyId, version: v2, at: "2026-06-01T00:00:00.000Z" });
    expect((await deps.inventory.get(keyId))!.key).toMatchObject({ primaryVersion: v2, lastRotatedAt: "2026-06-01T00:00:00.000Z", lastRotationId: `${keyId}@manual:r2` });

    await promoteVersion(deps, { rotationId: `${keyId}@rollback:manual:r2`, keyId, version: v1, at: "2026-06-01T01:00:00.000Z", rollback: true });
    const key = (await deps.inventory.get(keyId))!.key;
    expect(key.primaryVersion).toBe(v1);
    expect(key.lastRotatedAt).toBe(T0);
    expect(key.lastRotationId).toBeUndefined();
  });
});
