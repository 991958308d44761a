// A DEK rollback moves the primary consumers resolve (the DEK store), not only the inventory mirror.
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedKekWithDeks, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;
const rotate = (tenant: string, id: string) => ({ rotationId: `dek:${tenant}@manual:${id}`, keyId: `dek:${tenant}`, trigger: "manual", actor: "alice", reason: "test" });

async function twiceRotated() {
  const deps = freshDeps();
  const seeded = await seedKekWithDeks(deps, 1, 1);
  const driver = new Driver(deps);
  for (const id of ["r1", "r2"]) expect(((await driver.run(O.rotation, rotate("tenant0", id))) as RotationOutput).outcome).toBe("completed");
  return { deps, seeded, driver };
}

describe("DEK rollback", () => {
  it("makes the DEK store's primary the previous DEK again, so consumers encrypt under it, and keeps the newer one readable as secondary", async () => {
    const { deps, driver } = await twiceRotated();
    const out = (await driver.run(O.rollback, { rotationId: "dek:tenant0@rollback:r2", keyId: "dek:tenant0", actor: "alice", reason: "bad DEK" })) as RotationOutput;

    // The seeded DEK is version 1; the two rotations made v2 and v3.
    expect(out).toMatchObject({ outcome: "completed", versionBefore: "v3", versionAfter: "v2" });
    const deks = await deps.deks.tenantDeks("tenant0");
    expect(deks.filter((d) => d.state === "primary").map((d) => d.dekVersion)).toEqual([2]);
    expect(deks.find((d) => d.dekVersion === 3)?.state).toBe("secondary");
    expect((await deps.inventory.get("dek:tenant0"))?.key.primaryVersion).toBe("v2");
  });

  it("refuses to make a DEK primary again when the KEK version it is wrapped under is disabled, and changes nothing", async () => {
    const { deps, seeded, driver } = await twiceRotated();
    await deps.vault.updateKeyVersion(VAULT, "tenant-kek", seeded.v1, { enabled: false });
    const out = (await driver.run(O.rollback, { rotationId: "dek:tenant0@rollback:r2", keyId: "dek:tenant0", actor: "alice" })) as RotationOutput;

    expect(out.outcome).toBe("failed");
    const deks = await deps.deks.tenantDeks("tenant0");
    expect(deks.filter((d) => d.state === "primary").map((d) => d.dekVersion)).toEqual([3]);
    expect((await deps.inventory.get("dek:tenant0"))?.key.primaryVersion).toBe("v3");
  });
});
