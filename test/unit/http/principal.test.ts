import { describe, expect, it } from "vitest";
import { encodePrincipal, hasRole, parsePrincipal, ROLES } from "../../../lib/http/principal";
import { InvalidRequestError } from "../../../lib/domain/errors";

function statusOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof InvalidRequestError ? err.status : -1;
  }
  return undefined;
}

describe("parsePrincipal", () => {
  it("reads the name and keyrotor roles from the Easy Auth shape", () => {
    const p = parsePrincipal(encodePrincipal("alice", [ROLES.operator, "SomeOtherApp.Role"]));
    expect(p).toEqual({ id: "alice", name: "alice", roles: [ROLES.operator] });
  });

  it("refuses a missing header with 401", () => {
    expect(statusOf(() => parsePrincipal(undefined))).toBe(401);
    expect(statusOf(() => parsePrincipal(""))).toBe(401);
  });

  it("refuses garbled base64, non-JSON and a principal without a name with 401", () => {
    expect(statusOf(() => parsePrincipal("%%%not-base64"))).toBe(401);
    expect(statusOf(() => parsePrincipal(Buffer.from("not json").toString("base64")))).toBe(401);
    expect(statusOf(() => parsePrincipal(Buffer.from(JSON.stringify({ claims: [] })).toString("base64")))).toBe(401);
    expect(statusOf(() => parsePrincipal(Buffer.from("null").toString("base64")))).toBe(401);
  });
});

describe("parsePrincipal is strict (issue 21)", () => {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64");
  const named = (name: string, roles: string[] = [ROLES.operator]) =>
    b64({ auth_typ: "aad", claims: [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))], name_typ: "name", role_typ: "roles" });

  it("refuses base64 with trailing garbage, missing padding, whitespace or non-canonical bits with 401", () => {
    const good = encodePrincipal("alice", [ROLES.operator]);
    expect(parsePrincipal(good).name).toBe("alice");
    for (const bad of [`${good}!!junk`, `${good}AAAA`.replace(/=+AAAA$/, "=AAAA"), `${good} `, ` ${good}`, good.replace(/=+$/, ""), `${good}\n`, good.replace(/\+/g, "-")]) {
      if (bad === good) continue;
      expect(statusOf(() => parsePrincipal(bad)), JSON.stringify(bad.slice(-12))).toBe(401);
    }
    // "QQ==" and "QR==" both decode to "A" in Node; only the canonical one is accepted.
    expect(statusOf(() => parsePrincipal(b64({ claims: [{ typ: "name", val: "x" }] }).replace(/(.)(=+)$/, (_m, c: string, pad: string) => `${String.fromCharCode(c.charCodeAt(0) + 1)}${pad}`)))).toBe(401);
  });

  it("refuses bytes that are not UTF-8 with 401", () => {
    const bytes = Buffer.concat([Buffer.from('{"claims":[{"typ":"name","val":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    expect(statusOf(() => parsePrincipal(bytes.toString("base64")))).toBe(401);
  });

  it("refuses keyrotor's own actor names (system:timer, system:eventgrid, any system: name) with 401", () => {
    for (const name of ["system:timer", "system:eventgrid", "System:Timer", "system:anything", "ｓｙｓｔｅｍ:timer"]) {
      expect(statusOf(() => parsePrincipal(named(name))), name).toBe(401);
    }
    const asOid = b64({ claims: [{ typ: "oid", val: "system:timer" }, { typ: "name", val: "mallory" }, { typ: "roles", val: ROLES.operator }] });
    expect(statusOf(() => parsePrincipal(asOid))).toBe(401);
    expect(parsePrincipal(named("systems-team")).name).toBe("systems-team");
  });

  it("refuses names with NUL, line feeds, C1 controls, bidi overrides or isolates with 401", () => {
    for (const name of ["a\u0000b", "alice\nFAKE LEDGER LINE", "a\rb", "a\u0085b", "a\u009bb", "a\u007fb", "evil\u202egnp.exe", "a\u202ab", "a\u2066b\u2069", "a\u2028b", "a\ud800b"]) {
      expect(statusOf(() => parsePrincipal(named(name))), JSON.stringify(name)).toBe(401);
    }
    expect(parsePrincipal(named("Zoë Ångström-日本")).name).toBe("Zoë Ångström-日本");
  });
});

describe("hasRole", () => {
  it("lets any keyrotor role read, but only the exact role change things", () => {
    const operator = { id: "o", name: "o", roles: [ROLES.operator] };
    const admin = { id: "a", name: "a", roles: [ROLES.admin] };
    const nobody = { id: "n", name: "n", roles: [] };
    expect(hasRole(operator, ROLES.auditor)).toBe(true);
    expect(hasRole(nobody, ROLES.auditor)).toBe(false);
    expect(hasRole(admin, ROLES.operator)).toBe(false);
    expect(hasRole(admin, ROLES.approver)).toBe(false);
    expect(hasRole(operator, ROLES.operator)).toBe(true);
  });
});
