// Issue 16 on the real Durable extension: the emergency rotation with the two-person rule, through the
// API's own HTTP functions (postRotation, approveRotation, getRotation, verifyLedger) whose durable
// client binding is the real extension's, down to the revoke of the compromised KEK version.
import { afterAll, beforeAll, expect, it } from "vitest";
import { ROLES } from "../../lib/http/principal";
import { instanceIdFor } from "../../lib/orchestration/names";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { checkDeks, ledgerEntries, seedKekWithDeks, VAULT } from "../e2e/rotation/stack";
import { describeRealRuntime, reportSeconds, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

const OPERATOR: [string, ...string[]] = ["olivia", ROLES.operator];
const APPROVER: [string, ...string[]] = ["adam", ROLES.approver];
const AUDITOR: [string, ...string[]] = ["audrey", ROLES.auditor];
const approvePath = (rotationId: string): string => `/api/rotations/approve/${encodeURIComponent(rotationId)}`;

describeRealRuntime("emergency rotation with two-person approval and revoke", () => {
  let app: RealApp;
  beforeAll(async () => {
    app = await startRealApp({ taskHub: "emergencyhub" });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  it("waits for a second person, refuses self-approval, then rotates, rewraps every DEK and disables the compromised version; the ledger names both people and verifies", async () => {
    const t0 = Date.now();
    const seeded = await seedKekWithDeks(app.stack, app.peers, 2, 50, "leaked-kek");
    const requested = await app.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId: seeded.keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld: true } });
    expect(requested.status, requested.body).toBe(202);
    const { rotationId, status } = requested.json() as { rotationId: string; status: string };
    expect(status).toBe("pendingApproval");
    // Nothing runs until a second person approves: no instance on the real task hub, one version.
    await expect(app.client.getStatus(instanceIdFor(rotationId))).rejects.toThrow(/404/);
    expect(await app.deps.vault.listKeyVersions(VAULT, seeded.name)).toHaveLength(1);

    const both: [string, ...string[]] = ["olivia", ROLES.operator, ROLES.approver];
    const self = await app.call("POST", approvePath(rotationId), { as: both, body: {} });
    expect(self.status, self.body).toBe(403);
    expect((self.json() as { error: { code: string } }).error.code).toBe("SelfApproval");
    await expect(app.client.getStatus(instanceIdFor(rotationId))).rejects.toThrow(/404/);

    const approved = await app.call("POST", approvePath(rotationId), { as: APPROVER, body: {} });
    expect(approved.status, approved.body).toBe(202);
    expect(approved.json()).toMatchObject({ rotationId, status: "running", approvedBy: "adam" });
    // The same approver again: the first answer, nothing started twice.
    const again = await app.call("POST", approvePath(rotationId), { as: APPROVER, body: {} });
    expect(again.status, again.body).toBe(202);

    const end = await waitForEnd(app.client, instanceIdFor(rotationId), 240_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-4000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ rewrapped: 100, total: 100 });

    const versions = await app.deps.vault.listKeyVersions(VAULT, seeded.name);
    expect(versions).toHaveLength(2);
    expect(versions.find((v) => v.version === seeded.v1)?.enabled).toBe(false);
    const check = await checkDeks(app.stack, seeded);
    expect(check).toMatchObject({ mismatches: 0, count: 100 });
    expect([...check.versions]).toEqual([out.versionAfter]);
    expect((await app.deps.inventory.get(seeded.keyId))?.key.versions.find((v) => v.version === seeded.v1)?.state).toBe("revoked");

    const entries = await ledgerEntries(app.stack, seeded.keyId);
    const ids = entries.map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
    const types = entries.map((e) => e.type);
    expect(types.filter((t) => t === "EmergencyRequested")).toHaveLength(1);
    expect(types.filter((t) => t === "Approved")).toHaveLength(1);
    expect(types.filter((t) => t === "Revoked")).toHaveLength(1);
    expect(entries.find((e) => e.type === "Approved")).toMatchObject({ details: expect.objectContaining({ requestedBy: "olivia" }) as unknown });
    expect(types).toContain("Completed");

    // The API's views read the real instance through the real client binding.
    const view = await app.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: AUDITOR });
    expect(view.status, view.body).toBe(200);
    expect(view.json()).toMatchObject({ phase: "completed", runtimeStatus: "Completed", trigger: "emergency", versionBefore: seeded.v1, approval: { approvedBy: "adam" } });
    const verified = await app.call("GET", "/api/ledger/verify", { as: AUDITOR });
    expect(verified.json(), verified.body).toMatchObject({ ok: true });
    reportSeconds("emergency with two-person approval and revoke (2 x 50 DEKs)", t0);
  }, 300_000);
});
