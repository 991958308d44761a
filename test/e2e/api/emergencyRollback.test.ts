// Rolling back: the version re-promoted is exactly the one the rotation replaced (from its own
// record), never a revoked one; rolling back an emergency needs a second person, as the emergency did.
import { afterEach, describe, expect, it } from "vitest";
import { apiPath, ROUTES } from "../../../lib/api/routes";
import { ROLES } from "../../../lib/http/principal";
import { entryIdFor } from "../../../lib/orchestration/activities";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { APPROVER, chain, OPERATOR, seedKey, snapshot, startApiHost, T0, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const REASON = "new version breaks the payments consumer";
const rollback = (api: ApiHost, rotationId: string, as: [string, ...string[]] = OPERATOR) =>
  api.call("POST", apiPath(ROUTES.rollbackRotation, { rotationId }), { as, body: { reason: REASON } });
const approve = (api: ApiHost, rotationId: string, as: [string, ...string[]]) =>
  api.call("POST", apiPath(ROUTES.approveRotation, { rotationId }), { as, body: {} });

async function withPolicy(api: ApiHost, kind: "kek" | "signing", name: string): Promise<{ keyId: string; v1: string }> {
  await api.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: [kind], schedule: { every: "P30D" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D" }, undefined);
  return seedKey(api.mem, kind, name, { policyId: "monthly", lastRotatedAt: T0 });
}

async function done(api: ApiHost, rotationId: string): Promise<Record<string, unknown>> {
  return (await api.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output as Record<string, unknown>;
}

async function manual(api: ApiHost, keyId: string): Promise<string> {
  const r = await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "manual rotation", mode: "manual" } });
  expect(r.status, r.body).toBe(202);
  expect(await done(api, r.json().rotationId)).toMatchObject({ outcome: "completed" });
  return r.json().rotationId;
}

async function approvedEmergency(api: ApiHost, keyId: string, revokeOld: boolean): Promise<string> {
  const r = await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld } });
  expect(r.status, r.body).toBe(202);
  const rotationId = r.json().rotationId;
  expect((await approve(api, rotationId, APPROVER)).status).toBe(202);
  expect(await done(api, rotationId)).toMatchObject({ outcome: "completed" });
  return rotationId;
}

const primaryOf = async (api: ApiHost, keyId: string) => (await api.mem.rotation.inventory.get(keyId))!.key.primaryVersion;

describe("rolling back an emergency needs a second person", () => {
  it("the rollback request waits for a different Approver; nothing changes until then; the approval starts it and the ledger names both", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await withPolicy(h, "kek", "tenant-kek");
    const emergencyId = await approvedEmergency(h, keyId, false);
    const v2 = await primaryOf(h, keyId);
    expect(v2).not.toBe(v1);
    h.clock.advance(60_000);
    const before = await snapshot(h.mem);

    const requested = await rollback(h, emergencyId);
    expect(requested.status, requested.body).toBe(202);
    expect(requested.json()).toMatchObject({ status: "pendingApproval", rollbackOf: emergencyId, versionBefore: v2, versionAfter: v1 });
    const rollbackRequest = requested.json().rotationId;
    await h.host.idle();
    expect(await primaryOf(h, keyId)).toBe(v2);
    expect(await h.host.client.getStatus(instanceIdFor(rollbackRequest))).toBeUndefined();
    // Posting it again answers the open request.
    expect((await rollback(h, emergencyId)).json()).toMatchObject({ rotationId: rollbackRequest, status: "pendingApproval" });
    const list = (await h.call("GET", `/api/rotations?keyId=${encodeURIComponent(keyId)}`, { as: OPERATOR })).json().rotations;
    expect(list.find((r) => r.rotationId === rollbackRequest)).toMatchObject({ status: "pendingApproval", requestedBy: "olivia" });

    const self = await approve(h, rollbackRequest, ["olivia", ROLES.operator, ROLES.approver]);
    expect(self.status).toBe(403);
    expect(self.json().error.code).toBe("SelfApproval");
    expect(await primaryOf(h, keyId)).toBe(v2);
    expect(before).not.toBe(await snapshot(h.mem)); // the request itself is recorded

    const ok = await approve(h, rollbackRequest, APPROVER);
    expect(ok.status, ok.body).toBe(202);
    expect(ok.json()).toMatchObject({ rotationId: rollbackRequest, status: "running", approvedBy: "adam", rollbackOf: emergencyId });
    expect(await done(h, rollbackRequest)).toMatchObject({ outcome: "completed", versionBefore: v2, versionAfter: v1 });
    expect(await primaryOf(h, keyId)).toBe(v1);
    const entries = (await chain(h.mem, keyId)).filter((e) => e.rotationId === rollbackRequest);
    expect(entries.find((e) => e.type === "RotationRequested")).toMatchObject({ actor: "olivia", details: { rollbackOf: emergencyId, needsApproval: true } });
    expect(entries.find((e) => e.type === "Approved")).toMatchObject({ actor: "adam", details: { rollbackOf: emergencyId, requestedBy: "olivia" } });
    expect(entries.filter((e) => e.type === "RolledBack")).toEqual([expect.objectContaining({ versionBefore: v2, versionAfter: v1 })]);
  });

  it("a rollback of an emergency that revoked the version it replaced is refused with 409 and changes nothing", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await withPolicy(h, "signing", "tokens");
    const emergencyId = await approvedEmergency(h, keyId, true);
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tokens")).find((v) => v.version === v1)?.enabled).toBe(false);
    const before = await snapshot(h.mem);
    const r = await rollback(h, emergencyId);
    expect(r.status, r.body).toBe(409);
    expect(r.json().error.code).toBe("VersionRevoked");
    expect(r.json().error.message).toMatch(/never re-promotes a revoked version/);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
  });
});

describe("a rollback re-promotes exactly the version the rotation replaced", () => {
  it("not the newest secondary: after a rollback and a new rotation, rolling that rotation back restores the version it replaced", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await withPolicy(h, "kek", "tenant-kek");
    const first = await manual(h, keyId);
    const v2 = await primaryOf(h, keyId);
    h.clock.advance(60_000);
    expect((await rollback(h, first)).status).toBe(202);
    expect(await done(h, `${keyId}@rollback:${first.slice(keyId.length + 1)}`)).toMatchObject({ outcome: "completed", versionAfter: v1 });
    h.clock.advance(60_000);
    // v1 primary again, v2 the newest secondary. The next rotation replaces v1.
    const third = await manual(h, keyId);
    const v3 = await primaryOf(h, keyId);
    expect([v1, v2]).not.toContain(v3);
    h.clock.advance(60_000);
    const r = await rollback(h, third);
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ versionBefore: v3, versionAfter: v1 });
    expect(await done(h, r.json().rotationId)).toMatchObject({ outcome: "completed", versionBefore: v3, versionAfter: v1 });
    expect(await primaryOf(h, keyId)).toBe(v1);
  });

  it("on rows recorded before demotions were timed, the rotation's own record decides, not the newest secondary", async () => {
    const at = (h0: number) => new Date(Date.parse(T0) + h0 * 3_600_000).toISOString();
    h = await startApiHost({ at: at(3) });
    await h.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D" }, undefined);
    // History: v1 primary; a rotation made vX primary and was rolled back (vX secondary); rotation R
    // then replaced v1 with v2. No row says when v1 or vX stepped down.
    const v1 = h.mem.rotation.vault.seedKey(VAULT, "tenant-kek");
    const vX = h.mem.rotation.vault.seedKey(VAULT, "tenant-kek");
    const v2 = h.mem.rotation.vault.seedKey(VAULT, "tenant-kek");
    const keyId = `kek:${VAULT}/tenant-kek`;
    await h.mem.rotation.inventory.put({
      keyId, kind: "kek", tenant: "platform", policyId: "monthly", primaryVersion: v2, lastRotatedAt: at(2),
      versions: [{ version: v1, state: "secondary", createdAt: at(0) }, { version: vX, state: "secondary", createdAt: at(1) }, { version: v2, state: "primary", createdAt: at(2) }],
    }, undefined);
    const r = `${keyId}@manual:20260301T020000-legacy`;
    await h.mem.services.ledger.append({ keyId, entryId: entryIdFor(r, "promoted"), type: "Promoted", rotationId: r, trigger: "manual", actor: "olivia", versionBefore: v1, versionAfter: v2, at: at(2) });

    const res = await rollback(h, r);
    expect(res.status, res.body).toBe(202);
    expect(res.json()).toMatchObject({ versionBefore: v2, versionAfter: v1 });
    expect(await done(h, res.json().rotationId)).toMatchObject({ outcome: "completed", versionBefore: v2, versionAfter: v1 });
    expect(await primaryOf(h, keyId)).toBe(v1);
    expect((await h.mem.rotation.inventory.get(keyId))!.key.versions.find((v) => v.version === vX)?.state).toBe("secondary");
  });
});
