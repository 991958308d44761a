// The branch-rotation bench's command line: `npm run bench` lists it, and --scope names every branch
// key or those of the first K tenants (what POST /api/rotations is sent), refusing anything else.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseScope, scopeRequest } from "../../../bench/_branchScope";
import { branchIdOf, sharedIndexFor } from "../../../lib/domain/branchKeys";

const ROOT = path.resolve(__dirname, "../../..");

describe("branch-rotation bench command line", () => {
  it("is listed by `npm run bench` without a bench name", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: npm run bench -- <[^>]*\bbranch-rotation\b[^>]*>/);
    expect(r.stderr).not.toMatch(/_branchScope|_hierarchy/);
  });

  it("--scope all asks for every branch key (branchKeys: true)", () => {
    const asked = scopeRequest(parseScope("all", 200), 16);
    expect(asked.branchKeys).toBe(true);
    expect([...asked.branchIds].sort()).toEqual(Array.from({ length: 16 }, (_, index) => branchIdOf({ kind: "shared", index, count: 16 })).sort());
  });

  it("--scope tenants:K names the first K tenants and covers the branch keys they are assigned to", () => {
    const asked = scopeRequest(parseScope("tenants:3", 200), 256);
    expect(asked.branchKeys).toEqual({ tenants: ["t000000", "t000001", "t000002"] });
    expect(asked.branchIds).toEqual(new Set(["t000000", "t000001", "t000002"].map((t) => branchIdOf({ kind: "shared", index: sharedIndexFor(t, 256), count: 256 }))));
  });

  it("refuses a scope that is not all or tenants:K with 1 ≤ K ≤ the tenants seeded and the API's 1000", () => {
    for (const bad of ["", "some", "tenants:", "tenants:0", "tenants:-1", "tenants:1.5", "tenants:201", "branches:3"]) {
      expect(() => parseScope(bad, 200), bad).toThrow(/--scope must be "all" or "tenants:K" with 1 ≤ K ≤ 200/);
    }
    expect(() => parseScope("tenants:1001", 5000)).toThrow(/1 ≤ K ≤ 1000/);
    expect(parseScope("tenants:200", 200)).toEqual({ kind: "tenants", count: 200 });
  });
});
