import { describe, expect, it } from "vitest";
import { lockEntityKey } from "../../../lib/domain/rotation";
import type { MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { assertAllReadable, freshDeps, seedKekWithDeks, seedKey, seedSecret, VAULT } from "./fixtures";
import { dekRecord } from "../../../lib/envelope/dekRecord";

const O = DURABLE.orchestrators;
const req = (keyId: string, extra: Partial<RotationRequest> = {}): RotationRequest => ({
  rotationId: `${keyId}@manual:r1`, keyId, trigger: "manual", actor: "alice", reason: "test", ...extra,
});

async function ledgerOf(deps: MemoryRotationDeps, keyId: string) {
  const out = [];
  for await (const e of deps.ledger.entries(keyId)) out.push(e);
  return out;
}

describe("KEK rotation", () => {
  it("creates exactly one new version, rewraps every DEK under it, and every DEK still unwraps to its plaintext", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 5, 200);
    const driver = new Driver(deps);
    const out = (await driver.run(O.rotation, req(seeded.keyId, { batchSize: 60 }))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    expect(out.versionBefore).toBe(seeded.v1);
    const versions = await deps.vault.listKeyVersions(VAULT, "tenant-kek");
    expect(versions).toHaveLength(2);
    const check = await assertAllReadable(deps, seeded);
    expect(check.mismatches).toBe(0);
    expect([...check.versions]).toEqual([out.versionAfter]);
    expect(out.counts).toMatchObject({ rewrapped: 1000, remainingOld: 0 });
    const inv = (await deps.inventory.get(seeded.keyId))!.key;
    expect(inv.primaryVersion).toBe(out.versionAfter);
    expect(inv.versions.find((v) => v.version === seeded.v1)?.state).toBe("secondary");
    expect((await deps.ledger.verify()).ok).toBe(true);
    const types = (await ledgerOf(deps, seeded.keyId)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["RotationRequested", "LockAcquired", "VersionCreated", "Promoted", "RewrapProgress", "RewrapCompleted", "Completed", "LockReleased"]));
    expect(driver.locks.get(lockEntityKey(seeded.keyId))).toEqual({ fence: 1 });
    const completed = deps.events.published.find((e) => e.type === "RotationCompleted");
    expect(completed?.guidance.decryptionValid).toBe(true);
  });

  it("run again under the same rotationId it creates no second version and writes no ledger entry twice", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 20);
    await new Driver(deps).run(O.rotation, req(seeded.keyId));
    const before = (await ledgerOf(deps, seeded.keyId)).length;
    const events = deps.events.published.length;
    const again = (await new Driver(deps).run(O.rotation, req(seeded.keyId))) as RotationOutput;
    expect(again.outcome).toBe("completed");
    expect(await deps.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    expect((await ledgerOf(deps, seeded.keyId)).length).toBe(before);
    expect(deps.events.published.length).toBe(events);
    expect((await assertAllReadable(deps, seeded)).mismatches).toBe(0);
  });

  it("keeps each rewrap sub-orchestration's history bounded by continuing as new", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 100);
    const driver = new Driver(deps);
    const out = (await driver.run(O.rotation, req(seeded.keyId, { batchSize: 10, batchesPerEpisode: 3 }))) as RotationOutput;
    expect(out.counts).toMatchObject({ rewrapped: 200 });
    expect(driver.trace.continuedAsNew).toBeGreaterThan(5);
  });

  it("retries a transient Key Vault failure with backoff and completes", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    const driver = new Driver(deps);
    let failures = 2;
    driver.beforeActivity = (name) => {
      if (name === DURABLE.activities.createKeyVersion && failures-- > 0) throw new Error("[dependencyUnavailable] Throttled: [keyrotor] [keyvault] 429");
    };
    const out = (await driver.run(O.rotation, req(seeded.keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    expect(driver.trace.timers).toHaveLength(2);
    expect(await deps.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
  });

  it("stops at once on an invariant violation, records Failed with the phase and what is safe next, and releases the lock", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    const driver = new Driver(deps);
    let calls = 0;
    driver.beforeActivity = (name) => {
      if (name === DURABLE.activities.rewrapRange && ++calls >= 1) throw new Error("[invariantViolation] Broken: [keyrotor] [deks] corrupt partition");
    };
    const out = (await driver.run(O.rotation, req(seeded.keyId))) as RotationOutput;
    expect(out.outcome).toBe("failed");
    expect(out.phase).toBe("rewrapping");
    expect(calls).toBe(1);
    const failed = (await ledgerOf(deps, seeded.keyId)).find((e) => e.type === "Failed");
    expect(failed?.details).toMatchObject({ failedPhase: "rewrapping" });
    expect(String(failed?.details?.safeNext)).toMatch(/still readable/);
    expect(driver.locks.get(lockEntityKey(seeded.keyId))).toEqual({ fence: 1 });
    expect(deps.events.published.find((e) => e.type === "RotationFailed")?.severity).toBe("critical");
  });
});

describe("keyLock arbitration", () => {
  it("refuses a second rotation while the first holds a live lease, naming the holder", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "kek", "k1");
    const driver = new Driver(deps);
    driver.entity(lockEntityKey(keyId), "tryAcquire", { owner: "other@manual:x", now: "2026-03-01T00:00:00Z", leaseUntil: "2026-03-01T01:00:00Z" });
    const out = (await driver.run(O.rotation, req(keyId))) as RotationOutput;
    expect(out).toMatchObject({ outcome: "refused", heldBy: "other@manual:x" });
    expect(await deps.vault.listKeyVersions(VAULT, "k1")).toHaveLength(1);
  });

  it("takes over an expired lease and records LockBroken with the old owner", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "kek", "k1");
    const driver = new Driver(deps);
    driver.entity(lockEntityKey(keyId), "tryAcquire", { owner: "dead@manual:x", now: "2026-02-28T00:00:00Z", leaseUntil: "2026-02-28T00:15:00Z" });
    const out = (await driver.run(O.rotation, req(keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const broken = (await ledgerOf(deps, keyId)).find((e) => e.type === "LockBroken");
    expect(broken?.details?.previousOwner).toBe("dead@manual:x");
  });
});

describe("emergency rotation", () => {
  it("revokes the compromised version once the rewrap is proven complete", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 10);
    const out = (await new Driver(deps).run(O.rotation, req(seeded.keyId, { rotationId: `${seeded.keyId}@emergency:e1`, trigger: "emergency", mode: "emergency", revokeOld: true, propagationDelay: "PT1H" }))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const old = (await deps.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === seeded.v1);
    expect(old?.enabled).toBe(false);
    expect((await deps.inventory.get(seeded.keyId))!.key.versions.find((v) => v.version === seeded.v1)?.state).toBe("revoked");
    expect((await assertAllReadable(deps, seeded)).mismatches).toBe(0);
    expect((await ledgerOf(deps, seeded.keyId)).some((e) => e.type === "Revoked")).toBe(true);
  });

  it("does not revoke while references remain and fails with an alert; a second approval accepting data loss revokes", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    deps.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: 9001, dekId: "corrupt", state: "secondary", kekKeyId: seeded.keyId, kekVersion: seeded.v1, wrapped: Buffer.alloc(256, 1), createdAt: "2026-01-01T00:00:00Z" }));
    const emergency = req(seeded.keyId, { rotationId: `${seeded.keyId}@emergency:e1`, trigger: "emergency", mode: "emergency", revokeOld: true });
    const out = (await new Driver(deps).run(O.rotation, emergency)) as RotationOutput;
    expect(out.outcome).toBe("failed");
    expect(out.error?.code, out.error?.message).toBe("ReferencesRemain");
    expect((await deps.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === seeded.v1)?.enabled).toBe(true);
    expect(deps.events.published.find((e) => e.type === "RotationFailed")?.severity).toBe("critical");

    // The retry names the compromised version: the failed attempt already promoted a clean one.
    const approved = (await new Driver(deps).run(O.rotation, { ...emergency, rotationId: `${seeded.keyId}@emergency:e2`, dataLossAcceptedBy: "bob", compromisedVersion: seeded.v1 })) as RotationOutput;
    expect(approved.outcome).toBe("completed");
    const revoked = (await ledgerOf(deps, seeded.keyId)).filter((e) => e.type === "Revoked");
    expect(revoked.map((e) => e.versionBefore)).toEqual([seeded.v1]);
    expect(revoked[0]?.details?.dataLossAcceptedBy).toBe("bob");
    expect(revoked[0]?.counts?.remainingReferences).toBe(1);
    expect((await deps.vault.listKeyVersions(VAULT, "tenant-kek")).filter((v) => !v.enabled).map((v) => v.version)).toEqual([seeded.v1]);
  });
});

describe("DEK, signing-key and secret rotation", () => {
  it("gives a tenant a new primary DEK wrapped under the KEK primary and demotes the old one", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 3);
    const out = (await new Driver(deps).run(O.rotation, req("dek:tenant0"))) as RotationOutput;
    // The seeded DEKs are versions 1-3: the rotated one is version 4 ("v4" in the inventory).
    expect(out).toMatchObject({ outcome: "completed", versionBefore: "v1", versionAfter: "v4" });
    const deks = await deps.deks.tenantDeks("tenant0");
    expect(deks.filter((d) => d.state === "primary").map((d) => d.dekVersion)).toEqual([4]);
    expect(deks.find((d) => d.dekId === "d0000")?.state).toBe("secondary");
    const fresh = deks.find((d) => d.dekVersion === 4)!;
    expect(fresh.kekVersion).toBe(seeded.v1);
    const plain = await deps.vault.unwrapKey(VAULT, "tenant-kek", fresh.kekVersion, Buffer.from(fresh.wrapped, "base64url"));
    expect(plain).toHaveLength(32);
  });

  it("rotates every tenant's DEK with bounded concurrency", async () => {
    const deps = freshDeps();
    await seedKekWithDeks(deps, 3, 2);
    const out = await new Driver(deps).run(O.dekFanOut, { slot: "2026-Q1", concurrency: 2 });
    expect(out).toMatchObject({ tenants: 3, completed: 3 });
    for (const t of ["tenant0", "tenant1", "tenant2"]) {
      expect((await deps.deks.tenantDeks(t)).find((d) => d.state === "primary")?.rotationId).toBe(`dek:${t}@2026-Q1`);
    }
  });

  it("rotates a signing key: the old version only verifies and the JWKS holds primary and retained keys", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedKey(deps, "signing", "jwt");
    const out = (await new Driver(deps).run(O.rotation, req(keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const versions = await deps.vault.listKeyVersions(VAULT, "jwt");
    expect(versions.find((v) => v.version === v1)?.keyOps).toEqual(["verify"]);
    const jwks = await deps.jwks.get(VAULT, "jwt");
    expect(jwks?.keys.map((k) => k.kid.split("/").pop()).sort()).toEqual([v1, out.versionAfter].sort());
    expect(JSON.stringify(jwks)).not.toMatch(/"d":/);
  });

  it("rotates a secret with the policy's generator; the old version stays enabled for the overlap", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedSecret(deps, "webhook");
    const out = (await new Driver(deps).run(O.rotation, req(keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const value = deps.vault.secretValue(VAULT, "webhook", out.versionAfter!);
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await deps.vault.listSecretVersions(VAULT, "webhook")).find((v) => v.version === v1)?.enabled).toBe(true);
  });
});

describe("rollback and retirement", () => {
  it("re-promotes the previous version within the rollback window and leaves the newer one enabled", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    const driver = new Driver(deps);
    const rotated = (await driver.run(O.rotation, req(seeded.keyId))) as RotationOutput;
    const out = (await driver.run(O.rollback, { rotationId: `${seeded.keyId}@rollback:1`, keyId: seeded.keyId, actor: "alice", reason: "bad release" })) as RotationOutput;
    expect(out).toMatchObject({ outcome: "completed", versionBefore: rotated.versionAfter, versionAfter: seeded.v1 });
    const key = (await deps.inventory.get(seeded.keyId))!.key;
    expect(key.primaryVersion).toBe(seeded.v1);
    expect(key.versions.find((v) => v.version === rotated.versionAfter)?.state).toBe("secondary");
    expect((await deps.vault.listKeyVersions(VAULT, "tenant-kek")).every((v) => v.enabled)).toBe(true);
    expect((await assertAllReadable(deps, seeded)).mismatches).toBe(0);
    expect((await ledgerOf(deps, seeded.keyId)).some((e) => e.type === "RolledBack")).toBe(true);
  });

  it("refuses a rollback after the rollback window", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "kek", "k1");
    const driver = new Driver(deps);
    await driver.run(O.rotation, req(keyId));
    driver.now = new Date("2026-04-01T00:00:00Z");
    const out = (await driver.run(O.rollback, { rotationId: `${keyId}@rollback:1`, keyId, actor: "alice" })) as RotationOutput;
    expect(out).toMatchObject({ outcome: "failed", error: { code: "RollbackWindowClosed" } });
  });

  it("retires an old KEK version only after the overlap and with zero references", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    const driver = new Driver(deps);
    await driver.run(O.rotation, req(seeded.keyId));
    const early = (await driver.run(O.retirement, { rotationId: `${seeded.keyId}@retire:1`, keyId: seeded.keyId, actor: "system:timer" })) as RotationOutput;
    expect(early.counts).toMatchObject({ candidates: 0, retired: 0 });
    driver.now = new Date("2026-04-15T00:00:00Z");
    const late = (await driver.run(O.retirement, { rotationId: `${seeded.keyId}@retire:2`, keyId: seeded.keyId, actor: "system:timer" })) as RotationOutput;
    expect(late.counts).toMatchObject({ candidates: 1, retired: 1 });
    expect((await deps.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === seeded.v1)?.enabled).toBe(false);
  });
});

describe("no key material leaves the activities", () => {
  it("no orchestration input, output, custom status, ledger entry or event contains a DEK or secret plaintext", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 2, 10);
    const { keyId: secretId } = await seedSecret(deps, "api-key");
    const driver = new Driver(deps);
    await driver.run(O.rotation, req(seeded.keyId));
    await driver.run(O.rotation, req("dek:tenant0"));
    const s = (await driver.run(O.rotation, req(secretId))) as RotationOutput;
    const secrets = [...seeded.plaintexts.values()].flatMap((b) => [b.toString("base64"), b.toString("hex"), b.toString("base64url")]);
    secrets.push(deps.vault.secretValue(VAULT, "api-key", s.versionAfter!)!);
    const fresh = (await deps.deks.tenantDeks("tenant0")).find((d) => d.state === "primary")!;
    const dekPlain = await deps.vault.unwrapKey(VAULT, "tenant-kek", fresh.kekVersion, Buffer.from(fresh.wrapped, "base64url"));
    secrets.push(dekPlain.toString("base64"), dekPlain.toString("hex"));
    const entries = [...(await ledgerOf(deps, seeded.keyId)), ...(await ledgerOf(deps, "dek:tenant0")), ...(await ledgerOf(deps, secretId))];
    expect(entries.length).toBeGreaterThan(10);
    const haystack = JSON.stringify([driver.trace, deps.events.published, entries]);
    for (const secret of secrets) expect(haystack.includes(secret)).toBe(false);
  });
});
