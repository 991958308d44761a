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
