// F9: identities are compared in one canonical form, and only identities that can carry the
// two-person rule are accepted where it matters.
import { describe, expect, it } from "vitest";
import { canonicalPersonId, decideApproval, openEmergency, samePerson } from "../../../lib/domain/approval";
import { nameOnlyPrincipalsAllowed, parsePrincipal } from "../../../lib/http/principal";

const OID = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE";
const hdr = (claims: { typ: string; val: string }[]) => Buffer.from(JSON.stringify({ auth_typ: "aad", claims, name_typ: "name", role_typ: "roles" })).toString("base64");
const request = (requester: { id: string; name: string }) =>
  openEmergency({ rotationId: "kek:v/k@emergency:x", keyId: "kek:v/k", requestedBy: requester, reason: "compromised key", revokeOld: true, now: new Date(0), windowMs: 3_600_000 });

describe("principal ids", () => {
  it("lower-cases a GUID object id, whichever claim carries it", () => {
    expect(parsePrincipal(hdr([{ typ: "oid", val: OID }, { typ: "name", val: "Alice" }])).id).toBe(OID.toLowerCase());
    expect(parsePrincipal(hdr([{ typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: OID }])).id).toBe(OID.toLowerCase());
  });

  it("keeps a non-GUID subject as sent", () => {
    expect(parsePrincipal(hdr([{ typ: "sub", val: "AbC-pairwise" }])).id).toBe("AbC-pairwise");
  });

  it("refuses a name-only principal with 401 NameOnlyPrincipal where name-only principals are not allowed", () => {
    expect(() => parsePrincipal(hdr([{ typ: "name", val: "alice" }]), { allowNameOnly: false })).toThrow(expect.objectContaining({ code: "NameOnlyPrincipal", status: 401 }));
    expect(parsePrincipal(hdr([{ typ: "oid", val: OID }]), { allowNameOnly: false }).id).toBe(OID.toLowerCase());
  });

  it("allows name-only principals only off App Service (no WEBSITE_SITE_NAME, no WEBSITE_INSTANCE_ID)", () => {
    expect(nameOnlyPrincipalsAllowed({})).toBe(true);
    expect(nameOnlyPrincipalsAllowed({ WEBSITE_SITE_NAME: "keyrotor" })).toBe(false);
    expect(nameOnlyPrincipalsAllowed({ WEBSITE_INSTANCE_ID: "abc" })).toBe(false);
  });
});

describe("the two-person rule's comparison", () => {
  it.each(["Alice", "alice ", " alice", "ａｌｉｃｅ", "ali\u200dce", "al\u00adice", "ALICE"])("treats %j as the same person as \"alice\"", (spelling) => {
    expect(canonicalPersonId(spelling)).toBe("alice");
    expect(samePerson("alice", spelling)).toBe(true);
  });

  it("tells different people apart, and an absent id is nobody", () => {
    expect(samePerson("alice", "bob")).toBe(false);
    expect(samePerson(undefined, "alice")).toBe(false);
  });

  it("refuses self-approval against a request stored with an upper-case object id", () => {
    const stored = request({ id: OID, name: "Alice" });
    expect(() => decideApproval(stored, { id: OID.toLowerCase(), name: "alice " }, new Date(1))).toThrow(expect.objectContaining({ code: "SelfApproval", status: 403 }));
  });

  it("refuses approving a request without a requester id with RequesterUnidentified (409), whoever approves", () => {
    const { requestedById: _id, ...legacy } = request({ id: "alice", name: "Alice Example" });
    expect(() => decideApproval(legacy, { id: OID, name: "Alice Example" }, new Date(1))).toThrow(expect.objectContaining({ code: "RequesterUnidentified" }));
    expect(() => decideApproval(legacy, { id: "bob", name: "Bob" }, new Date(1))).toThrow(expect.objectContaining({ code: "RequesterUnidentified" }));
  });

  it("still lets a different person approve", () => {
    expect(decideApproval(request({ id: OID, name: "Alice" }), { id: "99999999-2222-3333-4444-555555555555", name: "Bob" }, new Date(1)).kind).toBe("claim");
  });
});
