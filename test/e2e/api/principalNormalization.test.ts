// F9 over the HTTP edge: the two-person rule compares people, not spellings. An object id in upper
// case is the same person as in lower case; on App Service a principal with only a name (no object
// id, no subject) is refused, since a name can be respelt; an emergency request stored before
// requester ids existed cannot be approved (nobody can prove the approver is someone else).
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiPath, ROUTES } from "../../../lib/api/routes";
import { ROLES } from "../../../lib/http/principal";
import { OPERATOR, APPROVER, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

interface Claim { typ: string; val: string }
interface Payload { claims: Claim[]; [k: string]: unknown }
const fixture = (name: string) => (JSON.parse(readFileSync(path.resolve(__dirname, "../../fixtures/easyauth", `${name}.json`), "utf8")) as { principal: Payload }).principal;
const header = (p: Payload) => Buffer.from(JSON.stringify(p)).toString("base64");
const OID = "http://schemas.microsoft.com/identity/claims/objectidentifier";
/** The recorded Entra ID user with the given roles and object id spelt by `spell`. */
function user(roles: string[], spell: (oid: string) => string = (o) => o): string {
  const p = fixture("user-uri-types");
  const claims = p.claims.filter((c) => c.typ !== "roles").map((c) => (c.typ === OID ? { typ: c.typ, val: spell(c.val) } : c));
  return header({ ...p, claims: [...claims, ...roles.map((val) => ({ typ: "roles", val }))] });
}
const nameOnly = (name: string, roles: string[]) => header({ auth_typ: "aad", claims: [{ typ: "name", val: name }, ...roles.map((val) => ({ typ: "roles", val }))], name_typ: "name", role_typ: "roles" });

let h: ApiHost | undefined;
const savedSite = process.env.WEBSITE_SITE_NAME;
afterEach(async () => {
  if (savedSite === undefined) delete process.env.WEBSITE_SITE_NAME;
  else process.env.WEBSITE_SITE_NAME = savedSite;
  await h?.stop();
  h = undefined;
});

async function emergency(api: ApiHost, as: string | [string, ...string[]]): Promise<{ keyId: string; rotationId: string }> {
  const { keyId } = await seedKey(api.mem, "kek", "tenant-kek");
  const r = await api.call("POST", "/api/rotations", { as, body: { keyId, reason: "suspected compromise of the KEK", mode: "emergency" } });
  expect(r.status, r.body).toBe(202);
  return { keyId, rotationId: r.json().rotationId };
}
const approve = (api: ApiHost, rotationId: string, as: string | [string, ...string[]]) => api.call("POST", apiPath(ROUTES.approveRotation, { rotationId }), { as, body: {} });

describe("the two-person rule's identity comparison", () => {
  it("an object id in upper case is the same person as in lower case: 403 SelfApproval, nothing changes", async () => {
    h = await startApiHost();
    const { rotationId } = await emergency(h, user([ROLES.operator], (o) => o.toUpperCase()));
    const before = await snapshot(h.mem);
    const r = await approve(h, rotationId, user([ROLES.approver], (o) => o.toLowerCase()));
    expect(r.status, r.body).toBe(403);
    expect(r.json().error.code).toBe("SelfApproval");
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("locally, a name-only approver spelling the requester's name differently (case, trailing space, full width, zero-width joiner) is the requester: 403", async () => {
    h = await startApiHost();
    const { rotationId } = await emergency(h, nameOnly("alice", [ROLES.operator]));
    const before = await snapshot(h.mem);
    for (const spelling of ["Alice", "alice ", "ａｌｉｃｅ", "ali\u200dce"]) {
      const r = await approve(h, rotationId, nameOnly(spelling, [ROLES.approver]));
      expect(r.status, `${JSON.stringify(spelling)}: ${r.body}`).toBe(403);
      expect(r.json().error.code).toBe("SelfApproval");
    }
    expect(await snapshot(h.mem)).toBe(before);
  });

  it("on App Service (WEBSITE_SITE_NAME set) a principal with only a name is refused with 401 NameOnlyPrincipal; one with an object id is served", async () => {
    h = await startApiHost();
    const { rotationId } = await emergency(h, user([ROLES.operator]));
    process.env.WEBSITE_SITE_NAME = "keyrotor-prod";
    const before = await snapshot(h.mem);
    const r = await approve(h, rotationId, nameOnly("adam", [ROLES.approver]));
    expect(r.status, r.body).toBe(401);
    expect(r.json().error.code).toBe("NameOnlyPrincipal");
    const list = await h.call("GET", "/api/keys", { as: nameOnly("audrey", [ROLES.auditor]) });
    expect(list.status).toBe(401);
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.call("GET", "/api/keys", { as: user([ROLES.auditor]) })).status).toBe(200);
  });

  it("an emergency request stored without a requester id (before ids existed) is refused with 409 RequesterUnidentified, even for a different approver, and stays pending", async () => {
    h = await startApiHost();
    const { rotationId } = await emergency(h, OPERATOR);
    const stored = (await h.mem.approvals.get(rotationId))!;
    const { requestedById: _id, ...legacy } = stored.request;
    await h.mem.approvals.update(legacy, stored.etag);
    const before = await snapshot(h.mem);
    const r = await approve(h, rotationId, APPROVER);
    expect(r.status, r.body).toBe(409);
    expect(r.json().error.code).toBe("RequesterUnidentified");
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.mem.approvals.get(rotationId))?.request.status).toBe("pendingApproval");
  });
});
