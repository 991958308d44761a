// The version rule book on the production path: the activities and the memory inventory adapter
// refuse what lib/domain/versions.ts refuses, and retirement counts from demotion.
import { describe, expect, it } from "vitest";
import { InvariantViolationError } from "../../../lib/domain/errors";
import type { ManagedKey } from "../../../lib/domain/keys";
import { disableVersion, promoteVersion } from "../../../lib/orchestration/activities";
import { memoryRotationDeps, type MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { seedKey, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;
const AT = "2026-03-01T00:00:00.000Z";

/** Deps whose vault stamps versions with the same movable time as the driver. */
function timed(start: string): { deps: MemoryRotationDeps; driver: Driver; at: (iso: string) => void } {
  let now = new Date(start);
  const deps = memoryRotationDeps({ clock: { now: () => now } });
  const driver = new Driver(deps, now);
  return { deps, driver, at: (iso) => { now = new Date(iso); driver.now = now; } };
}

/** A KEK with a primary and one revoked version (both in the vault). */
async function withRevoked(deps: MemoryRotationDeps): Promise<{ keyId: string; v1: string; bad: string; before: ManagedKey }> {
  const { keyId, v1 } = await seedKey(deps, "kek", "k1");
  const bad = deps.vault.seedKey(VAULT, "k1");
  const row = (await deps.inventory.get(keyId))!;
  await deps.inventory.put({ ...row.key, versions: [...row.key.versions, { version: bad, state: "secondary", createdAt: AT }] }, row.etag);
  await disableVersion(deps, { rotationId: `${keyId}@emergency:x`, keyId, version: bad, state: "revoked" });
  return { keyId, v1, bad, before: (await deps.inventory.get(keyId))!.key };
}

const req = (keyId: string, n: number): RotationRequest => ({ rotationId: `${keyId}@manual:r${n}`, keyId, trigger: "manual", actor: "alice", reason: "test" });

describe("version rules on the activity path", () => {
  it("promoteVersion refuses to promote a revoked version and leaves the inventory unchanged", async () => {
    const deps = memoryRotationDeps();
    const { keyId, bad, before } = await withRevoked(deps);
    const err = await promoteVersion(deps, { rotationId: `${keyId}@manual:r1`, keyId, version: bad, at: AT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvariantViolationError);
    expect(err).toMatchObject({ code: "CannotPromote", keyId, version: bad });
    expect((await deps.inventory.get(keyId))!.key).toEqual(before);
  });

  it("a rollback promoteVersion refuses a revoked target with an InvariantViolationError naming the rule", async () => {
    const deps = memoryRotationDeps();
    const { keyId, bad, before } = await withRevoked(deps);
    await expect(promoteVersion(deps, { rotationId: `${keyId}@rollback:r1`, keyId, version: bad, at: AT, rollback: true }))
      .rejects.toMatchObject({ code: "CannotPromote", keyId, version: bad });
    expect((await deps.inventory.get(keyId))!.key).toEqual(before);
  });

  it("disableVersion refuses to retire a revoked version (revoked is final) and does not touch the vault", async () => {
    const deps = memoryRotationDeps();
    const { keyId, bad, before } = await withRevoked(deps);
    await expect(disableVersion(deps, { rotationId: `${keyId}@retire:x`, keyId, version: bad, state: "retired" }))
      .rejects.toMatchObject({ code: "VersionRevoked", keyId, version: bad });
    expect((await deps.inventory.get(keyId))!.key).toEqual(before);
  });

  it("disableVersion refuses the primary before it disables anything in the vault", async () => {
    const deps = memoryRotationDeps();
    const { keyId, v1 } = await seedKey(deps, "kek", "k1");
    await expect(disableVersion(deps, { rotationId: `${keyId}@retire:x`, keyId, version: v1, state: "revoked" }))
      .rejects.toMatchObject({ code: "DisablePrimary", keyId, version: v1 });
    expect((await deps.vault.listKeyVersions(VAULT, "k1"))[0]?.enabled).toBe(true);
  });

  it("promoteVersion records when the old primary was demoted", async () => {
    const { deps, driver } = timed(AT);
    const { keyId, v1 } = await seedKey(deps, "kek", "k1");
    await driver.run(O.rotation, req(keyId, 1));
    expect((await deps.inventory.get(keyId))!.key.versions.find((v) => v.version === v1)).toMatchObject({ state: "secondary", demotedAt: AT });
  });
});

describe("the memory inventory adapter holds a replaced row to the rule book", () => {
  it("refuses a hand-built row that brings a revoked version back, drops a version, or demotes without demotedAt", async () => {
    const deps = memoryRotationDeps();
    const { keyId, bad, v1, before } = await withRevoked(deps);
    const row = (await deps.inventory.get(keyId))!;
    const revived: ManagedKey = { ...row.key, primaryVersion: bad, versions: row.key.versions.map((v) => ({ ...v, state: v.version === bad ? "primary" as const : "secondary" as const, demotedAt: AT })) };
    await expect(deps.inventory.put(revived, row.etag)).rejects.toMatchObject({ code: "VersionRevoked" });
    await expect(deps.inventory.put({ ...row.key, versions: row.key.versions.filter((v) => v.version !== bad) }, row.etag)).rejects.toMatchObject({ code: "VersionRemoved" });
    const v2 = { version: "v2", state: "primary" as const, createdAt: AT };
    const undated: ManagedKey = { ...row.key, primaryVersion: "v2", versions: [...row.key.versions.map((v) => (v.version === v1 ? { ...v, state: "secondary" as const } : v)), v2] };
    await expect(deps.inventory.put(undated, row.etag)).rejects.toMatchObject({ code: "DemotionUndated" });
    expect((await deps.inventory.get(keyId))!.key).toEqual(before);
  });
});

describe("retirement counts from demotion", () => {
  it("a rollback followed by a rotation does not retire the old primary at once: it gets its whole overlap after its last demotion", async () => {
    const { deps, driver, at } = timed(AT);
    const { keyId, v1 } = await seedKey(deps, "kek", "k1");
    const first = (await driver.run(O.rotation, req(keyId, 1))) as RotationOutput;
    at("2026-03-02T00:00:00.000Z");
    const back = (await driver.run(O.rollback, { rotationId: `${keyId}@rollback:r1`, keyId, actor: "alice", reason: "bad release" })) as RotationOutput;
    expect(back).toMatchObject({ outcome: "completed", versionAfter: v1 });
    // 44 days later (beyond the 30-day overlap counted from the rolled-back version's creation), rotate again.
    at("2026-04-15T00:00:00.000Z");
    const second = (await driver.run(O.rotation, req(keyId, 2))) as RotationOutput;
    expect(second, JSON.stringify(second)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    at("2026-04-15T01:00:00.000Z");
    const retire = (await driver.run(O.retirement, { rotationId: `${keyId}@retire:1`, keyId, actor: "system:timer" })) as RotationOutput;
    const states = Object.fromEntries((await deps.inventory.get(keyId))!.key.versions.map((v) => [v.version, v.state]));
    // v1 was primary until an hour ago: it stays; the version the rollback demoted 44 days ago goes.
    expect(states[v1]).toBe("secondary");
    expect(states[first.versionAfter!]).toBe("retired");
    expect(retire.counts).toMatchObject({ retired: 1 });
    expect((await deps.vault.listKeyVersions(VAULT, "k1")).find((v) => v.version === v1)?.enabled).toBe(true);
    at("2026-05-15T01:00:00.000Z");
    await driver.run(O.retirement, { rotationId: `${keyId}@retire:2`, keyId, actor: "system:timer" });
    expect((await deps.inventory.get(keyId))!.key.versions.find((v) => v.version === v1)?.state).toBe("retired");
  });
});
