// Two people for everything that can make data or tokens unusable, through the HTTP API on the
// host: people are told apart by their object id; a manual rotation cannot revoke; a repeated
// approval cannot add a data-loss acceptance or restart anything; the compromise signal's evidence
// never puts a secret into the ledger.
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { apiPath, ROUTES } from "../../../lib/api/routes";
import { ROLES } from "../../../lib/http/principal";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { APPROVER, chain, OPERATOR, seedKey, snapshot, startApiHost, T0, VAULT, type ApiHost } from "./support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier";
/** The header Easy Auth sends for an Entra ID user: a display name and an object id. */
function easyAuth(name: string, oid: string, ...roles: string[]): string {
  const claims = [{ typ: "name", val: name }, { typ: OID_CLAIM, val: oid }, ...roles.map((r) => ({ typ: "roles", val: r }))];
  return Buffer.from(JSON.stringify({ auth_typ: "aad", claims, name_typ: "name", role_typ: "roles" })).toString("base64");
}
const OLIVIA_OID = "0b5c4e2a-1111-4d6e-9a0b-000000000001";
const NAMESAKE_OID = "0b5c4e2a-2222-4d6e-9a0b-000000000002";

const approve = (api: ApiHost, rotationId: string, as: [string, ...string[]] | string, body: unknown = {}) =>
  api.call("POST", apiPath(ROUTES.approveRotation, { rotationId }), { as, body });

async function emergency(api: ApiHost, keyId: string, as: [string, ...string[]] | string = OPERATOR, revokeOld = true): Promise<string> {
  const r = await api.call("POST", "/api/rotations", { as, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld } });
  expect(r.status, r.body).toBe(202);
  return r.json().rotationId;
}

describe("the two-person rule compares object ids, never display names", () => {
  it("the requester under another display name is refused; a different person with the same display name may approve; both ids and names are recorded", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const requester = easyAuth("olivia", OLIVIA_OID, ROLES.operator, ROLES.approver);
    const rotationId = await emergency(h, keyId, requester);
    const before = await snapshot(h.mem);

    const self = await approve(h, rotationId, easyAuth("Olivia Smith (admin account)", OLIVIA_OID, ROLES.approver));
    expect(self.status, self.body).toBe(403);
    expect(self.json().error.code).toBe("SelfApproval");
    expect(await snapshot(h.mem)).toBe(before);

    const namesake = await approve(h, rotationId, easyAuth("olivia", NAMESAKE_OID, ROLES.approver));
    expect(namesake.status, namesake.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });

    expect((await h.mem.approvals.get(rotationId))?.request).toMatchObject({
      requestedBy: "olivia", requestedById: OLIVIA_OID, approvedBy: "olivia", approvedById: NAMESAKE_OID, status: "approved",
    });
    const entries = await chain(h.mem, keyId);
    expect(entries.find((e) => e.type === "EmergencyRequested")).toMatchObject({ actor: "olivia", details: { actorId: OLIVIA_OID } });
    expect(entries.find((e) => e.type === "Approved")).toMatchObject({ actor: "olivia", details: { actorId: NAMESAKE_OID, requestedBy: "olivia", requestedById: OLIVIA_OID } });
    const view = (await h.call("GET", apiPath(ROUTES.getRotation, { rotationId }), { as: OPERATOR })).json();
    expect(view.approval).toMatchObject({ requestedBy: "olivia", requestedById: OLIVIA_OID, approvedBy: "olivia", approvedById: NAMESAKE_OID });
  });
});

describe("a manual rotation cannot revoke", () => {
  it.each(["signing", "kek"] as const)("a manual %s rotation with revokeOld is refused with 400 naming the field, and changes nothing", async (kind) => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, kind, "tokens");
    const before = await snapshot(h.mem);
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation here", mode: "manual", revokeOld: true } });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "RevokeOldNeedsEmergency", field: "revokeOld" });
    expect(r.json().error.message).toMatch(/emergency/);
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tokens")).map((v) => [v.version, v.enabled])).toEqual([[v1, true]]);
  });

  it("a manual rotation without revokeOld (or with revokeOld: false) still runs and keeps the old version enabled", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "signing", "tokens");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation here", mode: "manual", revokeOld: false } });
    expect(r.status, r.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(r.json().rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tokens")).find((v) => v.version === v1)?.enabled).toBe(true);
  });
});

describe("re-approving", () => {
  it("acceptDataLoss after the approval is refused with 409 (a new request is needed) and changes nothing; another approver gets AlreadyApproved", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    // A DEK whose bytes do not unwrap: it keeps referencing v1, so the revoke stops without an acceptance.
    h.mem.rotation.deks.insert(dekRecord({ tenant: "t0", dekVersion: 9001, dekId: "corrupt", state: "primary", kekKeyId: keyId, kekVersion: v1, wrapped: Buffer.alloc(256, 1), createdAt: T0 }));
    const rotationId = await emergency(h, keyId);
    expect((await approve(h, rotationId, APPROVER)).status).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "failed", error: { code: "ReferencesRemain" } });
    const before = await snapshot(h.mem);
    const events = h.mem.events.messages.length;

    const late = await approve(h, rotationId, APPROVER, { acceptDataLoss: true });
    expect(late.status, late.body).toBe(409);
    expect(late.json().error.code).toBe("DataLossAfterApproval");
    expect(late.json().error.message).toMatch(/new emergency/);
    const other = await approve(h, rotationId, ["anna", ROLES.approver], { acceptDataLoss: true });
    expect(other.status).toBe(409);
    expect(other.json().error.code).toBe("AlreadyApproved");
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages).toHaveLength(events);
    expect((await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).find((v) => v.version === v1)?.enabled).toBe(true);
  });

  it("a repeated approval after the approval window answers as the first did and starts nothing, even once the finished instance was purged", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId, OPERATOR, false);
    const first = await approve(h, rotationId, APPROVER);
    expect(first.status).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    // Durable instances are purged after a while; the approval record stays.
    expect(await h.host.client.purge(instanceIdFor(rotationId))).toBe(1);
    h.clock.advance(2 * 3_600_000);
    const before = await snapshot(h.mem);
    const events = h.mem.events.messages.length;

    const again = await approve(h, rotationId, APPROVER);
    expect(again.status, again.body).toBe(202);
    expect(again.json()).toEqual(first.json());
    await h.host.idle();
    expect(await h.host.client.getStatus(instanceIdFor(rotationId))).toBeUndefined();
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages).toHaveLength(events);
  });

  it("the ledger entry and the event of an approval that accepts data loss say who accepted it and when", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId);
    h.clock.advance(5 * 60_000);
    const at = h.clock.now().toISOString();
    expect((await approve(h, rotationId, APPROVER, { acceptDataLoss: true })).status).toBe(202);
    await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect((await chain(h.mem, keyId)).find((e) => e.type === "Approved")).toMatchObject({
      actor: "adam", at, details: { dataLossAcceptedBy: "adam", dataLossAcceptedById: "adam", dataLossAcceptedAt: at },
    });
    expect(h.mem.events.messages.find((m) => m.subject === "EmergencyApproved")?.body.details).toMatchObject({ dataLossAcceptedBy: "adam", dataLossAcceptedAt: at });
    expect((await h.call("GET", apiPath(ROUTES.getRotation, { rotationId }), { as: OPERATOR })).json().approval).toMatchObject({ dataLossAcceptedBy: "adam", dataLossAcceptedAt: at });
  });
});

describe("compromise evidence never puts a secret into the ledger", () => {
  const SECRET_SHAPES: [string, string, RegExp][] = [
    ["a PEM block", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", /PEM/],
    ["a JWK with a private member", '{"kty":"RSA","n":"0vx7","e":"AQAB","d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN45"}', /JSON Web Key/],
    ["a JWK with a symmetric member", '{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}', /JSON Web Key/],
    ["a storage connection string", "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abcd;EndpointSuffix=core.windows.net", /credential/],
    ["a Service Bus connection string", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abcd", /credential/],
    ["a SQL connection string", "Server=tcp:db;Database=app;User ID=sa;Password=hunter2;", /credential/],
    ["a JWT", "found token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl in the log", /JSON Web Token/],
    ["a 32-byte hex run", `leaked key ${"a1".repeat(32)}`, /hex/],
    ["a 32-byte base64 run", `leaked key ${createHash("sha256").update("k1").digest("base64")}`, /base64/],
    ["a SAS URL", "https://prod.blob.core.windows.net/c/f?sv=2022-11-02&sig=AbCdEf%2B", /credential/],
  ];

  it.each(SECRET_SHAPES)("refuses %s with 400 saying why, and changes nothing", async (_what, evidence, why) => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const before = await snapshot(h.mem);
    const r = await h.call("POST", "/api/events/compromise", { as: OPERATOR, body: { keyId, reason: "detector flagged exfiltration", evidence } });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "EvidenceLooksSecret", field: "evidence" });
    expect(r.json().error.message).toMatch(why);
    expect(r.body).not.toContain(evidence.slice(-12));
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages).toHaveLength(0);
  });

  it("keeps a SHA-256 digest of the evidence and a reference of at most 200 characters without a URL's query", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const evidence = `https://contoso.atlassian.net/browse/SEC-4711?focusedCommentId=99#comment ${"and a long description of what the detector saw ".repeat(10)}`;
    const r = await h.call("POST", "/api/events/compromise", { as: OPERATOR, body: { keyId, reason: "detector flagged exfiltration", evidence } });
    expect(r.status, r.body).toBe(202);
    const entry = (await chain(h.mem, keyId)).find((e) => e.type === "EmergencyRequested")!;
    const kept = String(entry.details?.evidence);
    expect(entry.details?.evidenceSha256).toBe(createHash("sha256").update(evidence).digest("hex"));
    expect(kept.length).toBeLessThanOrEqual(200);
    expect(kept.startsWith("https://contoso.atlassian.net/browse/SEC-4711 and a long description")).toBe(true);
    expect(kept).not.toContain("focusedCommentId");
    expect((await h.mem.approvals.get(r.json().rotationId))?.request.evidence).toBe(kept);
  });
});
