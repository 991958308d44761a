// A DEK rollback against the real DEK table (Azurite): the pointer consumers resolve moves back.
import { describe, expect, it } from "vitest";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { promoteVersion, rotateTenantDek } from "../../../lib/orchestration/activities";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { freshTable } from "../../support/tables";

const VAULT = "demo-vault";
const KEK = `kek:${VAULT}/tenant-kek`;
const T0 = "2026-01-01T00:00:00.000Z";

async function threeDeks() {
  const mem = memoryRotationDeps({ clock: { now: () => new Date("2026-03-01T00:00:00Z") } });
  const port = new TableDekPort(await freshTable("deks"));
  const deps: RotationDeps = { ...mem, deks: port };
  const v1 = mem.vault.seedKey(VAULT, "tenant-kek", "wrap");
  await mem.inventory.put({ keyId: KEK, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0 }] }, undefined);
  for (const [i, at] of ["2026-01-01", "2026-02-01", "2026-03-01"].entries()) {
    await rotateTenantDek(deps, { rotationId: `dek:contoso@r${i}`, tenant: "contoso", at: `${at}T00:00:00.000Z`, kekKeyId: KEK });
  }
  return { deps, port };
}

describe("DEK rollback on the DEK table", () => {
  it("moves the tenant's primary-DEK pointer back to the previous DEK in one write, demoting the newer one", async () => {
    const { deps, port } = await threeDeks();
    expect(await port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 3 });

    await promoteVersion(deps, { rotationId: "dek:contoso@rollback:r2", keyId: "dek:contoso", version: "v2", at: "2026-03-02T00:00:00.000Z", rollback: true });

    expect(await port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 2, state: "primary" });
    expect(await port.store.get("contoso", (await port.store.scanRange("contoso")).items.find((d) => d.dekVersion === 3)!.dekId)).toMatchObject({ state: "secondary" });
    expect((await deps.inventory.get("dek:contoso"))?.key.primaryVersion).toBe("v2");
    // A rotation after the rollback still gets a fresh, higher DEK version.
    const next = await rotateTenantDek(deps, { rotationId: "dek:contoso@r3", tenant: "contoso", at: "2026-03-03T00:00:00.000Z" });
    expect(next).toMatchObject({ dekVersion: "v4", previous: "v2" });
    expect(await port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 4 });
  });

  it("refuses to roll back to a retired DEK and leaves the pointer where it was", async () => {
    const { port } = await threeDeks();
    const v2 = (await port.store.scanRange("contoso")).items.find((d) => d.dekVersion === 2)!;
    await port.store.setState("contoso", v2.dekId, "retired");

    await expect(port.rollbackPrimary("contoso", 2)).rejects.toThrow(/retired/);
    expect(await port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 3 });
  });
});
