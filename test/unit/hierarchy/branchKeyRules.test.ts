// The hierarchy's pure rules (lib/domain/branchKeys.ts).
import { describe, expect, it } from "vitest";
import {
  assignmentOfBranchId, assignTenant, branchIdOf, checkTenantBranch, commitmentMatches, commitmentOf, dekAad, kekRevokeDecision, sharedIndexFor,
} from "../../../lib/domain/branchKeys";
import { InvalidRequestError, InvariantViolationError } from "../../../lib/domain/errors";

describe("branch-key rules", () => {
  it("spreads tenants evenly over the shared branch keys and never moves one for the same count", () => {
    const counts = new Array<number>(16).fill(0);
    for (let t = 0; t < 16_000; t++) counts[sharedIndexFor(`tenant-${t}`, 16)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(850);
    expect(Math.max(...counts)).toBeLessThan(1150);
    expect(sharedIndexFor("acme", 256)).toBe(sharedIndexFor("acme", 256));
  });

  it("names shared and dedicated branch keys so the name says which tenants they may serve", () => {
    const shared = assignTenant("acme", { sharedBranches: 256, isolated: false });
    expect(assignmentOfBranchId(branchIdOf(shared))).toEqual(shared);
    expect(branchIdOf(assignTenant("acme", { sharedBranches: 256, isolated: true }))).toBe("d-acme");
    expect(() => checkTenantBranch("acme", branchIdOf(shared), { hasDedicated: false })).not.toThrow();
    expect(() => checkTenantBranch("acme", "d-other", { hasDedicated: false })).toThrow(InvariantViolationError);
    expect(() => checkTenantBranch("acme", branchIdOf(shared), { hasDedicated: true })).toThrow(InvariantViolationError);
  });

  it("refuses malformed branch ids and shared-key counts with a 4xx that names the field", () => {
    for (const bad of ["s0-00000", "s4-00004", "x-1", "d-", "s4-1"]) expect(() => assignmentOfBranchId(bad)).toThrow(InvalidRequestError);
    expect(() => sharedIndexFor("acme", 0)).toThrow(expect.objectContaining({ status: 400, field: "branches" }) as Error);
  });

  it("binds the DEK's tenant, version and branch key id/version into its associated data", () => {
    const base = { tenant: "a", dekVersion: 1, kekKeyId: "kek:v/k", branchId: "s4-00001", branchVersion: 1 };
    const aad = dekAad(base).toString();
    for (const change of [{ tenant: "b" }, { dekVersion: 2 }, { kekKeyId: "kek:v/j" }, { branchId: "s4-00002" }, { branchVersion: 2 }]) {
      expect(dekAad({ ...base, ...change }).toString()).not.toBe(aad);
    }
  });

  it("commits to the branch key: another key does not match the commitment", () => {
    const key = Buffer.alloc(32, 1);
    expect(commitmentMatches(key, commitmentOf(key))).toBe(true);
    expect(commitmentMatches(Buffer.alloc(32, 2), commitmentOf(key))).toBe(false);
  });

  it("revokes a compromised KEK version only when neither a branch key nor a flat DEK references it", () => {
    expect(kekRevokeDecision({ branchKeys: 0, flatDeks: 0 })).toEqual({ revoke: true });
    expect(kekRevokeDecision({ branchKeys: 1, flatDeks: 0 })).toMatchObject({ revoke: false });
    expect(kekRevokeDecision({ branchKeys: 0, flatDeks: 3 })).toMatchObject({ revoke: false, reason: expect.stringContaining("3 flat DEK") as string });
  });
});
