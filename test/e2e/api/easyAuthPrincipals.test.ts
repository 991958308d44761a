// The whole API with principals as App Service authentication sends them (recorded shapes in
// test/fixtures/easyauth): roles typed "roles" under a role_typ URI, app-only callers without a
// name, and the two-person rule deciding by object id, never by display name.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiPath, ROUTES } from "../../../lib/api/routes";
import { ROLES } from "../../../lib/http/principal";
import { chain, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

interface Claim { typ: string; val: string }
interface Payload { claims: Claim[]; [k: string]: unknown }
const FIXTURES = path.resolve(__dirname, "../../fixtures/easyauth");
const fixture = (name: string) => (JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), "utf8")) as { principal: Payload }).principal;
const header = (p: Payload) => Buffer.from(JSON.stringify(p)).toString("base64");
/** The fixture with its "roles" claims replaced, and other claims overridden by type. */
function as(name: string, roles: string[], over: Record<string, string> = {}): string {
  const p = fixture(name);
  const claims = p.claims.filter((c) => c.typ !== "roles").map((c) => (over[c.typ] !== undefined ? { typ: c.typ, val: over[c.typ]! } : c));
  return header({ ...p, claims: [...claims, ...roles.map((val) => ({ typ: "roles", val }))] });
}
const OID = "http://schemas.microsoft.com/identity/claims/objectidentifier";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("Easy Auth principals through the API", () => {
  it("a signed-in user whose roles arrive typed \"roles\" reads the inventory; one without roles gets 403", async () => {
    h = await startApiHost();
    await seedKey(h.mem, "kek", "tenant-kek");
    const user = header(fixture("user-uri-types"));
    const r = await h.call("GET", "/api/keys", { as: user });
    expect(r.status, r.body).toBe(200);
    expect((await h.call("GET", "/api/keys", { as: header(fixture("user-without-roles")) })).status).toBe(403);
  });

  it("an app-only caller (no name claim) with the Operator role starts a rotation, recorded under its client id", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: header(fixture("app-only")), body: { keyId, reason: "scheduled by the release pipeline", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    await h.host.idle();
    const requested = (await chain(h.mem, keyId)).find((e) => e.type === "RotationRequested");
    expect(requested?.actor).toBe(fixture("app-only").claims.find((c) => c.typ === "azp")?.val);
  });

  it("the two-person rule compares object ids: a namesake approves, the same person under another name cannot", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const requester = as("user-uri-types", [ROLES.operator, ROLES.approver]);
    const requested = await h.call("POST", "/api/rotations", { as: requester, body: { keyId, reason: "suspected compromise of the KEK", mode: "emergency" } });
    expect(requested.status, requested.body).toBe(202);
    const { rotationId } = requested.json();
    const approve = (who: string) => h!.call("POST", apiPath(ROUTES.approveRotation, { rotationId }), { as: who, body: {} });

    const before = await snapshot(h.mem);
    const samePersonRenamed = as("user-uri-types", [ROLES.approver], { name: "Someone Else", preferred_username: "someone@contoso.com", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "someone@contoso.com" });
    const self = await approve(samePersonRenamed);
    expect(self.status, self.body).toBe(403);
    expect(self.json().error.code).toBe("SelfApproval");
    expect(await snapshot(h.mem)).toBe(before);

    // A guest who shares the requester's display name is another person (another object id).
    const namesake = as("guest-user", [ROLES.approver], { name: "alice@contoso.com" });
    const other = await approve(namesake);
    expect(other.status, other.body).toBe(202);
    expect(fixture("guest-user").claims.find((c) => c.typ === OID)?.val).not.toBe(fixture("user-uri-types").claims.find((c) => c.typ === OID)?.val);
  });
});
