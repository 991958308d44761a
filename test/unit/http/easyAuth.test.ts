// Principals as App Service authentication really sends them (test/fixtures/easyauth/*.json, each
// naming its source): claim-type URIs in name_typ/role_typ, roles typed "roles", app-only tokens
// without a name, guests, users without roles. Rules compare the object id, never the name.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { encodePrincipal, hasRole, parsePrincipal, ROLES } from "../../../lib/http/principal";

const FIXTURES = path.resolve(__dirname, "../../fixtures/easyauth");
function header(fixture: string): string {
  const f = JSON.parse(readFileSync(path.join(FIXTURES, `${fixture}.json`), "utf8")) as { _source: string; principal: unknown };
  expect(f._source.length).toBeGreaterThan(20);
  return Buffer.from(JSON.stringify(f.principal)).toString("base64");
}

describe("parsePrincipal with recorded Easy Auth headers", () => {
  it("reads a user's roles typed \"roles\" although role_typ is the role claim-type URI, and identifies them by object id", () => {
    const p = parsePrincipal(header("user-uri-types"));
    expect(p.id).toBe("5b5450db-eb26-4c1a-981c-ba1d25f0483d");
    expect(p.name).toBe("alice@contoso.com");
    expect(p.roles.sort()).toEqual([ROLES.auditor, ROLES.operator].sort());
    expect(hasRole(p, ROLES.operator)).toBe(true);
  });

  it("accepts an app-only token without any name claim: id is its oid, name its client id (azp)", () => {
    const p = parsePrincipal(header("app-only"));
    expect(p).toEqual({ id: "9d3e5f61-2b7a-4c0e-8f1d-6a4b3c2e1f00", name: "0c8a0f6e-5f3b-4b7e-8a3c-2d9e6f1b4a70", roles: [ROLES.operator] });
  });

  it("identifies a guest (#EXT#) by their object id in this tenant, never by a display name a member may share", () => {
    const p = parsePrincipal(header("guest-user"));
    expect(p.id).toBe("3f6b2a19-7c44-4e2d-b1a8-0e9d5c7f2b66");
    expect(p.name).toBe("Alice Example");
    expect(p.roles).toEqual([ROLES.approver]);
  });

  it("authenticates a user without app roles but grants nothing", () => {
    const p = parsePrincipal(header("user-without-roles"));
    expect(p.id).toBe("c7a1e2d3-4b5f-4a6e-9d8c-7b6a5f4e3d2c");
    expect(p.roles).toEqual([]);
    expect(hasRole(p, ROLES.auditor)).toBe(false);
  });

  it("reads roles under the role claim-type URI too, and the v1 upn when there is no name claim", () => {
    const payload = {
      auth_typ: "aad", name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", role_typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
      claims: [
        { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", val: "carol@contoso.com" },
        { typ: "oid", val: "0f0e0d0c-0b0a-4908-8706-050403020100" },
        { typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", val: ROLES.admin },
      ],
    };
    expect(parsePrincipal(Buffer.from(JSON.stringify(payload)).toString("base64"))).toEqual({ id: "0f0e0d0c-0b0a-4908-8706-050403020100", name: "carol@contoso.com", roles: [ROLES.admin] });
  });

  it("gives two people with one display name two identities", () => {
    const one = parsePrincipal(header("user-uri-types"));
    const guest = JSON.parse(Buffer.from(header("guest-user"), "base64").toString("utf8")) as { claims: { typ: string; val: string }[] };
    for (const c of guest.claims) if (c.typ === "name") c.val = one.name;
    const other = parsePrincipal(Buffer.from(JSON.stringify(guest)).toString("base64"));
    expect(other.name).toBe(one.name);
    expect(other.id).not.toBe(one.id);
  });

  it("refuses a principal with neither an object id nor any name with 401", () => {
    const payload = { auth_typ: "aad", name_typ: "name", role_typ: "roles", claims: [{ typ: "roles", val: ROLES.admin }] };
    const err = (() => {
      try {
        parsePrincipal(Buffer.from(JSON.stringify(payload)).toString("base64"));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).status).toBe(401);
  });
});

describe("parsePrincipal without an Entra object id", () => {
  it("identifies a caller of another provider by its subject (nameidentifier), not its display name", () => {
    const google = {
      auth_typ: "google", name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", role_typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
      claims: [
        { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", val: "111734149814826025351" },
        { typ: "name", val: "Dana Example" },
      ],
    };
    expect(parsePrincipal(Buffer.from(JSON.stringify(google)).toString("base64"))).toEqual({ id: "111734149814826025351", name: "Dana Example", roles: [] });
  });

  it("uses the name as the id only for local headers that carry no id at all", () => {
    expect(parsePrincipal(encodePrincipal("alice", [ROLES.operator]))).toEqual({ id: "alice", name: "alice", roles: [ROLES.operator] });
  });
});
