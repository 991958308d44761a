// Issue 16 on the real Durable extension: the two small workflows under the rotation lock. A rollback
// through the API's own HTTP function (rollbackRotation) re-promotes the replaced KEK version; the
// policy timer, fired as the Functions host fires it, retires an old version once its overlap is over
// and nothing references it, exactly once however often it fires.
import { afterAll, beforeAll, expect, it } from "vitest";
import { rollbackId } from "../../lib/api/rollback";
import { retirementId } from "../../lib/api/retirement";
import { ROLES } from "../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../lib/orchestration/workflows";
import { checkDeks, ledgerEntries, TENANT, VAULT, type SeededKek } from "../e2e/rotation/stack";
import { describeRealRuntime, reportSeconds, seedOwnKek, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

const OPERATOR: [string, ...string[]] = ["olivia", ROLES.operator];
const AUDITOR: [string, ...string[]] = ["audrey", ROLES.auditor];

describeRealRuntime("retirement and rollback", () => {
  let app: RealApp;
  beforeAll(async () => {
    app = await startRealApp({ taskHub: "retirehub" });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  /** A manual rotation through POST /api/rotations, run to its end on the real runtime. */
  async function rotateByApi(seeded: SeededKek): Promise<{ rotationId: string; v2: string }> {
    const r = await app.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId: seeded.keyId, reason: "routine manual rotation", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    const rotationId = String(r.json().rotationId);
    const end = await waitForEnd(app.client, instanceIdFor(rotationId), 240_000);
    expect((end.output as RotationOutput).outcome, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-3000)}`).toBe("completed");
    const v2 = (await app.deps.inventory.get(seeded.keyId))!.key.primaryVersion!;
    expect(v2).not.toBe(seeded.v1);
    return { rotationId, v2 };
  }

  async function expectCleanLedger(keyId: string): Promise<void> {
    const ids = (await ledgerEntries(app.stack, keyId)).map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
    const verified = await app.call("GET", "/api/ledger/verify", { as: AUDITOR });
    expect(verified.json(), verified.body).toMatchObject({ ok: true });
  }

  it("rolls a rotation back within its window: the replaced version is primary again, the newer one stays enabled, every DEK still unwraps; a second rollback is refused", async () => {
    const t0 = Date.now();
    const seeded = await seedOwnKek(app, 2, 10, "rollback-kek");
    const { rotationId, v2 } = await rotateByApi(seeded);
    const path = `/api/rotations/rollback/${encodeURIComponent(rotationId)}`;
    const r = await app.call("POST", path, { as: OPERATOR, body: { reason: "new version breaks the payments consumer" } });
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ rotationId: rollbackId(rotationId), rollbackOf: rotationId, status: "running", versionBefore: v2, versionAfter: seeded.v1 });
    const end = await waitForEnd(app.client, instanceIdFor(rollbackId(rotationId)), 240_000);
    expect(end.output, app.rt.output().slice(-3000)).toMatchObject({ outcome: "completed", versionBefore: v2, versionAfter: seeded.v1 });
    const key = (await app.deps.inventory.get(seeded.keyId))!.key;
    expect(key.primaryVersion).toBe(seeded.v1);
    expect(key.versions.find((v) => v.version === v2)?.state).toBe("secondary");
    expect((await app.deps.vault.listKeyVersions(VAULT, seeded.name)).every((v) => v.enabled)).toBe(true);
    expect(await checkDeks(app.stack, seeded)).toMatchObject({ mismatches: 0, count: 20 });

    const again = await app.call("POST", path, { as: OPERATOR, body: { reason: "new version breaks the payments consumer" } });
    expect(again.status, again.body).toBe(409);
    expect((again.json() as { error: { code: string } }).error.code).toBe("Superseded");
    const mine = (await ledgerEntries(app.stack, seeded.keyId)).filter((e) => e.entryId.startsWith(rollbackId(rotationId)));
    expect(mine.filter((e) => e.type === "RolledBack")).toHaveLength(1);
    await expectCleanLedger(seeded.keyId);
    reportSeconds("rollback of a KEK rotation (2 x 10 DEKs)", t0);
  }, 300_000);

  it("retires the old KEK version once its overlap is over and no DEK references it, once however often the timer fires", async () => {
    const t0 = Date.now();
    // A policy whose overlap is over seconds after the rotation (the retirement reads the real time).
    await app.policies.put({ policyId: "fast-retire", tenant: TENANT, kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "PT2S", rollbackWindow: "PT1S" }, undefined);
    const seeded = await seedOwnKek(app, 2, 10, "retire-kek");
    const stored = (await app.deps.inventory.get(seeded.keyId))!;
    await app.deps.inventory.put({ ...stored.key, policyId: "fast-retire" }, stored.etag);
    await rotateByApi(seeded);
    await new Promise((r) => setTimeout(r, 3_000));

    await app.rt.fireTimer("policyTimer");
    const id = instanceIdFor(retirementId(seeded.keyId, seeded.v1));
    const end = await waitForEnd(app.client, id, 240_000);
    expect(end.output, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-3000)}`).toMatchObject({ outcome: "completed", counts: { candidates: 1, retired: 1, kept: 0 } });
    await app.rt.fireTimer("policyTimer", { isPastDue: true });
    await app.rt.fireTimer("policyTimer");

    expect((await app.deps.vault.listKeyVersions(VAULT, seeded.name)).find((v) => v.version === seeded.v1)?.enabled).toBe(false);
    expect((await app.deps.inventory.get(seeded.keyId))!.key.versions.find((v) => v.version === seeded.v1)?.state).toBe("retired");
    expect(await checkDeks(app.stack, seeded)).toMatchObject({ mismatches: 0, count: 20 });
    const entries = await ledgerEntries(app.stack, seeded.keyId);
    expect(entries.filter((e) => e.type === "Retired")).toHaveLength(1);
    expect(entries.filter((e) => e.type === "LockAcquired" && e.entryId.startsWith(retirementId(seeded.keyId, seeded.v1)))).toHaveLength(1);
    await expectCleanLedger(seeded.keyId);
    reportSeconds("retirement by the policy timer (2 x 10 DEKs)", t0);
  }, 300_000);
});
