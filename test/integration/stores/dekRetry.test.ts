// Retried DEK rotations against the real DEK table (Azurite): a retry never promotes stale work.
import { describe, expect, it } from "vitest";
import type { TableClient } from "@azure/data-tables";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { countReferences, rotateTenantDek } from "../../../lib/orchestration/activities";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { freshTable } from "../../support/tables";

const VAULT = "demo-vault";
const KEK = `kek:${VAULT}/tenant-kek`;
const T0 = "2026-01-01T00:00:00.000Z";

/** A DEK table whose next `failures` promotion transactions fail as a crash would. */
function flaky(client: TableClient): { client: TableClient; failNext: (n?: number) => void } {
  let failures = 0;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "submitTransaction" && failures > 0) {
        return () => {
          failures--;
          return Promise.reject(Object.assign(new Error("injected crash before the promotion committed"), { statusCode: 503 }));
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { client: proxy, failNext: (n = 1) => (failures = n) };
}

async function setup() {
  const mem = memoryRotationDeps({ clock: { now: () => new Date("2026-03-01T00:00:00Z") } });
  const table = flaky(await freshTable("deks"));
  const port = new TableDekPort(table.client);
  const deps: RotationDeps = { ...mem, deks: port };
  const v1 = mem.vault.seedKey(VAULT, "tenant-kek", "wrap");
  await mem.inventory.put({ keyId: KEK, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0 }] }, undefined);
  // The tenant's first DEK (v1), under KEK v1.
  await rotateTenantDek(deps, { rotationId: "dek:contoso@first", tenant: "contoso", at: T0, kekKeyId: KEK });
  return { mem, deps, port, table, v1 };
}

/** The KEK rotates to a new primary and the old version is revoked (disabled in the vault). */
async function rotateKekAndRevoke(s: Awaited<ReturnType<typeof setup>>): Promise<string> {
  const { version: v2 } = await s.mem.vault.createKeyVersion(VAULT, "tenant-kek", { rotationId: "kek-rotation", purpose: "wrap" });
  await s.mem.vault.updateKeyVersion(VAULT, "tenant-kek", s.v1, { enabled: false });
  const row = (await s.mem.inventory.get(KEK))!;
  await s.mem.inventory.put({
    ...row.key, primaryVersion: v2,
    versions: [{ version: s.v1, state: "revoked", createdAt: T0 }, { version: v2, state: "primary", createdAt: "2026-02-01T00:00:00.000Z" }],
  }, row.etag);
  return v2;
}

describe("a retried DEK rotation cannot resurrect stale work", () => {
  it("wraps the retried rotation's DEK under the KEK's current primary, not under the version its first attempt used and that was revoked since", async () => {
    const s = await setup();
    const input = { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" };
    s.table.failNext();
    await expect(rotateTenantDek(s.deps, input)).rejects.toThrow(/injected crash/);
    const v2 = await rotateKekAndRevoke(s);

    const out = await rotateTenantDek(s.deps, input);

    expect(out).toMatchObject({ dekVersion: "v2", kekVersion: v2, reused: false });
    const primary = await s.port.store.getPrimary("contoso");
    expect(primary).toMatchObject({ dekVersion: 2, kekVersion: v2, state: "primary" });
    const plain = await s.mem.vault.unwrapKey(VAULT, "tenant-kek", v2, Buffer.from(primary!.wrapped, "base64url"));
    expect(plain).toHaveLength(32);
  });

  it("counts a pending rotation intent as a reference of the KEK version it is wrapped under, and a promoted DEK once", async () => {
    const s = await setup();
    expect(await s.port.countByKekVersion(KEK)).toEqual({ [s.v1]: 1 });
    const input = { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" };
    s.table.failNext();
    await expect(rotateTenantDek(s.deps, input)).rejects.toThrow(/injected crash/);

    // The pending intent holds a DEK wrapped under v1: v1 must not be provably unreferenced.
    const { byVersion } = await countReferences(s.deps, { kekKeyId: KEK, keepVersion: "some-newer-version" });
    expect(byVersion).toEqual({ [s.v1]: 2 });

    await rotateTenantDek(s.deps, input);
    expect(await s.port.countByKekVersion(KEK)).toEqual({ [s.v1]: 2 });
  });

  it("never promotes a DEK under a KEK version disabled in the vault, even while the inventory still names it primary", async () => {
    const s = await setup();
    await s.mem.vault.updateKeyVersion(VAULT, "tenant-kek", s.v1, { enabled: false });

    await expect(rotateTenantDek(s.deps, { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" }))
      .rejects.toThrow(/KekVersionDisabled|disabled in the vault/);

    expect(await s.port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 1 });
  });

  it("refuses to promote an intent whose KEK version was revoked between the intent and the promotion", async () => {
    const s = await setup();
    const input = { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" };
    let revoked = false;
    const guardedDeps: RotationDeps = {
      ...s.deps,
      deks: Object.assign(Object.create(s.port) as TableDekPort, {
        // The KEK is revoked right after the intent is written, before the promotion.
        rotatePrimary: (next: Parameters<TableDekPort["rotatePrimary"]>[0], guard?: Parameters<TableDekPort["rotatePrimary"]>[1]) =>
          s.port.rotatePrimary(next, async (w) => {
            if (!revoked) {
              revoked = true;
              await s.mem.vault.updateKeyVersion(VAULT, "tenant-kek", s.v1, { enabled: false });
            }
            await guard?.(w);
          }),
      }),
    };

    await expect(rotateTenantDek(guardedDeps, input)).rejects.toThrow(/disabled in the vault/);
    expect(await s.port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 1 });
  });

  it("a rotation that promoted and is run again reports its DEK instead of making another", async () => {
    const s = await setup();
    const input = { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" };
    const first = await rotateTenantDek(s.deps, input);
    const again = await rotateTenantDek(s.deps, input);
    expect(again).toMatchObject({ dekVersion: first.dekVersion, reused: true });
    expect((await s.port.tenantDeks("contoso")).map((d) => d.dekVersion).sort()).toEqual([1, 2]);
  });

  it("a person's re-run under a new rotationId drops the failed rotation's pending intent, so it no longer holds a reference", async () => {
    const s = await setup();
    s.table.failNext();
    await expect(rotateTenantDek(s.deps, { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-01T00:00:00.000Z" })).rejects.toThrow(/injected crash/);
    expect(await s.port.countByKekVersion(KEK)).toEqual({ [s.v1]: 2 }); // v1's DEK + the pending intent

    const rerun = await rotateTenantDek(s.deps, { rotationId: "dek:contoso@manual:rerun", tenant: "contoso", at: "2026-04-02T00:00:00.000Z" });

    expect(rerun).toMatchObject({ dekVersion: "v2", reused: false });
    expect(await s.port.countByKekVersion(KEK)).toEqual({ [s.v1]: 2 }); // two DEKs, no intent
    // The failed rotation, retried later, makes a DEK of its own above the re-run's, never v2 again.
    const late = await rotateTenantDek(s.deps, { rotationId: "dek:contoso@2026-Q2", tenant: "contoso", at: "2026-04-03T00:00:00.000Z" });
    expect(late).toMatchObject({ dekVersion: "v3", previous: "v2" });
  });
});
