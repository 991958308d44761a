// Two-person emergency rotation through the HTTP API on the host, down to the vault.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { APPROVER, chain, OPERATOR, seedKey, snapshot, startApiHost, T0, VAULT, type ApiHost } from "./support";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { ROLES } from "../../../lib/http/principal";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function seedDeks(api: ApiHost, keyId: string, v1: string, tenants: number, perTenant: number): Promise<Map<string, Buffer>> {
  const plaintexts = new Map<string, Buffer>();
  for (let t = 0; t < tenants; t++) {
    for (let i = 0; i < perTenant; i++) {
      const plaintext = randomBytes(32);
      const dekVersion = `d${String(i).padStart(4, "0")}`;
      plaintexts.set(`tenant${t}/${dekVersion}`, plaintext);
      const wrapped = await api.mem.rotation.vault.wrapKey(VAULT, "tenant-kek", v1, plaintext);
      api.mem.rotation.deks.insert(dekRecord({ tenant: `tenant${t}`, dekVersion: i + 1, dekId: dekVersion, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
    }
  }
  return plaintexts;
}

describe("emergency rotation (two-person rule)", () => {
  it("an emergency request is recorded and announced, and waits: nothing changes in the vault", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "key material leaked in a log", mode: "emergency", revokeOld: true } });
    expect(r.status, r.body).toBe(202);
    const { rotationId, status } = r.json();
    expect(status).toBe("pendingApproval");
    expect(rotationId).toMatch(/^kek:demo-vault\/tenant-kek@emergency:/);
    expect((await chain(h.mem, keyId)).map((e) => e.type)).toEqual(["EmergencyRequested"]);
    expect(h.mem.events.messages.map((m) => m.subject)).toEqual(["EmergencyRequested"]);
    expect(h.mem.events.messages[0]!.body.guidance.recommendedAction).toMatch(/Approver other than olivia/);
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(1);
    const view = await h.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: OPERATOR });
    expect(view.json()).toMatchObject({ runtimeStatus: "pendingApproval", phase: "requested", approval: { requestedBy: "olivia" } });
  });

  it("refuses a reason shorter than 10 characters, naming the field", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "leak", mode: "emergency" } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: "ReasonTooShort", field: "reason" });
  });

  it("refuses self-approval with 403, even when the requester also holds the Approver role", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const both: [string, ...string[]] = ["olivia", ROLES.operator, ROLES.approver];
    const { rotationId } = (await h.call("POST", "/api/rotations", { as: both, body: { keyId, reason: "suspected compromise", mode: "emergency" } })).json();
    const r = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: both, body: {} });
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe("SelfApproval");
    expect(await h.host.client.getStatus(instanceIdFor(rotationId))).toBeUndefined();
  });

  it("refuses a late approval with 410 after the approval window (1 h)", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const { rotationId } = (await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "suspected compromise", mode: "emergency" } })).json();
    h.clock.advance(61 * 60_000);
    const r = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER });
    expect(r.status).toBe(410);
    expect(r.json().error.code).toBe("ApprovalExpired");
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(1);
    expect((await h.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: APPROVER })).json().runtimeStatus).toBe("approvalExpired");
  });

  it("a compromise signal opens an emergency request that still needs approval", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/events/compromise", { as: OPERATOR, body: { keyId, reason: "detector flagged exfiltration", evidence: "SIEM alert 4711" } });
    expect(r.status, r.body).toBe(202);
    expect(r.json().status).toBe("pendingApproval");
    const stored = await h.mem.approvals.get(r.json().rotationId);
    expect(stored?.request).toMatchObject({ source: "compromise-signal", revokeOld: true, evidence: "SIEM alert 4711", status: "pendingApproval" });
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(1);
    const unknown = await h.call("POST", "/api/events/compromise", { as: OPERATOR, body: { keyId, reason: "detector flagged exfiltration", evidence: "x", extra: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.json().error.field).toBe("extra");
  });

  /** A KEK with DEKs, one of which the rewrap cannot move (its bytes do not unwrap): it keeps
   * referencing v1. Returns a function that opens an emergency revoke request. */
  async function kekWithStraggler(api: ApiHost): Promise<{ keyId: string; v1: string; request: () => Promise<string> }> {
    const { keyId, v1 } = await seedKey(api.mem, "kek", "tenant-kek");
    await seedDeks(api, keyId, v1, 1, 3);
    api.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: 9001, dekId: "corrupt", state: "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: Buffer.alloc(256, 1), createdAt: T0 }));
    const request = async () => (await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld: true } })).json().rotationId;
    return { keyId, v1, request };
  }

  it("an emergency revoke with a reference left stops as failed without an acceptance of data loss: the version stays enabled", async () => {
    h = await startApiHost();
    const { keyId, v1, request } = await kekWithStraggler(h);
    const rotationId = await request();
    expect((await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: {} })).status).toBe(202);
    const failed = await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect(failed.output).toMatchObject({ outcome: "failed", error: { code: "ReferencesRemain" } });
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === v1)?.enabled).toBe(true);
    const entries = await chain(h.mem, keyId);
    expect(entries.filter((e) => e.type === "Revoked")).toHaveLength(0);
    expect(entries.find((e) => e.type === "Approved")?.details?.dataLossAcceptedBy).toBeUndefined();
  });

  it("an emergency revoke with a reference left proceeds when the second person accepts the data loss, and the ledger names them", async () => {
    h = await startApiHost();
    const { keyId, v1, request } = await kekWithStraggler(h);
    const rotationId = await request();
    const ok = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: { acceptDataLoss: true } });
    expect(ok.status, ok.body).toBe(202);
    const done = await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect(done.output).toMatchObject({ outcome: "completed" });
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === v1)?.enabled).toBe(false);
    const entries = await chain(h.mem, keyId);
    expect(entries.find((e) => e.type === "Approved")).toMatchObject({ actor: "adam", details: { dataLossAcceptedBy: "adam", requestedBy: "olivia" } });
    expect(entries.find((e) => e.type === "Revoked")).toMatchObject({ rotationId, versionBefore: v1, details: { dataLossAcceptedBy: "adam" }, counts: { remainingReferences: 1 } });
  });

  it("a retried emergency names the compromised version and revokes it, not the clean version the failed attempt promoted", async () => {
    h = await startApiHost();
    const { keyId, v1, request } = await kekWithStraggler(h);
    const first = await request();
    await h.call("POST", `/api/rotations/approve/${encodeURIComponent(first)}`, { as: APPROVER, body: {} });
    expect((await h.host.client.waitForCompletion(instanceIdFor(first), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "failed" });
    const v2 = (await h.mem.rotation.inventory.get(keyId))!.key.primaryVersion!;
    expect(v2).not.toBe(v1);
    h.clock.advance(1_000);
    const again = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "retry: revoke the leaked version", mode: "emergency", revokeOld: true, version: v1 } });
    expect(again.status, again.body).toBe(202);
    const second = again.json().rotationId;
    expect((await h.call("POST", `/api/rotations/approve/${encodeURIComponent(second)}`, { as: APPROVER, body: { acceptDataLoss: true } })).status).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(second), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    const versions = await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek");
    expect(versions.find((v) => v.version === v1)?.enabled).toBe(false);
    expect(versions.find((v) => v.version === v2)?.enabled).toBe(true);
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "Revoked").map((e) => e.versionBefore)).toEqual([v1]);
    const bad = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation here", mode: "manual", version: v2 } });
    expect(bad.json().error).toMatchObject({ field: "version" });
    const unknown = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "unknown version here", mode: "emergency", version: "nope" } });
    expect(unknown.status).toBe(404);
  });

  it("refuses acceptDataLoss on an emergency without revokeOld, or with any value but true, and changes nothing", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const { rotationId } = (await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "suspected compromise", mode: "emergency" } })).json();
    const before = await snapshot(h.mem);
    const r = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: { acceptDataLoss: true } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: "DataLossNotApplicable", field: "acceptDataLoss" });
    const falsy = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: { acceptDataLoss: false } });
    expect(falsy.status).toBe(400);
    expect(falsy.json().error.field).toBe("acceptDataLoss");
    expect(await snapshot(h.mem)).toBe(before);
    expect(await h.host.client.getStatus(instanceIdFor(rotationId))).toBeUndefined();
  });

  it("an approved emergency rotation of a KEK with 1,000 DEKs completes and the compromised version ends disabled", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const plaintexts = await seedDeks(h, keyId, v1, 4, 250);
    const { rotationId } = (await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld: true } })).json();
    const ok = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(rotationId)}`, { as: APPROVER, body: {} });
    expect(ok.status, ok.body).toBe(202);
    expect(ok.json()).toMatchObject({ rotationId, status: "running", approvedBy: "adam" });
    const done = await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 });
    expect(done.runtimeStatus).toBe("Completed");
    const versions = await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek");
    expect(versions).toHaveLength(2);
    expect(versions.find((v) => v.version === v1)?.enabled).toBe(false);
    const fresh = versions.find((v) => v.version !== v1)!;
    let readable = 0;
    for (const t of await h.mem.rotation.deks.listTenants()) {
      for (const d of await h.mem.rotation.deks.tenantDeks(t)) {
        expect(d.kekVersion).toBe(fresh.version);
        const plain = await h.mem.rotation.vault.unwrapKey(VAULT, "tenant-kek", d.kekVersion, Buffer.from(d.wrapped, "base64url"));
        if (plain.equals(plaintexts.get(`${t}/${d.dekId}`)!)) readable++;
      }
    }
    expect(readable).toBe(1000);
    const types = (await chain(h.mem, keyId)).map((e) => e.type);
    expect(types.filter((t) => t === "EmergencyRequested")).toHaveLength(1);
    expect(types).toContain("Approved");
    expect(types).toContain("Revoked");
    expect(types).toContain("Completed");
    expect(h.mem.events.messages.map((m) => m.subject)).toContain("EmergencyApproved");
    const view = (await h.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: OPERATOR })).json();
    expect(view).toMatchObject({ phase: "completed", runtimeStatus: "Completed", trigger: "emergency", versionBefore: v1, approval: { approvedBy: "adam" } });
    const history = (await h.call("GET", `/api/rotations?keyId=${encodeURIComponent(keyId)}`, { as: OPERATOR })).json();
    expect(history.rotations[0]).toMatchObject({ rotationId, status: "completed", approvedBy: "adam", trigger: "emergency" });
    expect((await h.call("GET", "/api/ledger/verify", { as: OPERATOR })).json().ok).toBe(true);
  });
});
