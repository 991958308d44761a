// The branch-rotation bench's --scope: which branch keys its POST /api/rotations asks for, and the
// branch ids that covers under the seeding's assignment (bench/_hierarchy.ts seedHierarchy: tenant
// t assigned the shared branch key sharedIndexFor(tenant, B)). Named with a leading "_" so
// bench/run.ts does not list it as a bench.
import { branchIdOf, sharedIndexFor } from "../lib/domain/branchKeys";
import { tenantName } from "./_hierarchy";

/** Which branch keys the request asks for: every one, or those the first K tenants are assigned to. */
export type Scope = { kind: "all" } | { kind: "tenants"; count: number };

/** The request's API limit on named tenants (lib/api/rotations.ts: branchKeys.tenants max 1000). */
const MAX_NAMED_TENANTS = 1000;

export function parseScope(raw: string, tenants: number): Scope {
  if (raw === "all") return { kind: "all" };
  const m = /^tenants:(\d+)$/.exec(raw);
  const count = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > Math.min(tenants, MAX_NAMED_TENANTS)) {
    throw new Error(`[keyrotor] [bench] --scope must be "all" or "tenants:K" with 1 ≤ K ≤ ${Math.min(tenants, MAX_NAMED_TENANTS)} (the tenants seeded, at most the API's ${MAX_NAMED_TENANTS}), got "${raw}"`);
  }
  return { kind: "tenants", count };
}

/** The request body's branchKeys field and the branch ids it covers (the seeding's assignment). */
export function scopeRequest(scope: Scope, branches: number): { branchKeys: true | { tenants: string[] }; branchIds: Set<string> } {
  const all = Array.from({ length: branches }, (_, index) => branchIdOf({ kind: "shared", index, count: branches }));
  if (scope.kind === "all") return { branchKeys: true, branchIds: new Set(all) };
  const tenants = Array.from({ length: scope.count }, (_, t) => tenantName(t));
  return { branchKeys: { tenants }, branchIds: new Set(tenants.map((t) => branchIdOf({ kind: "shared", index: sharedIndexFor(t, branches), count: branches }))) };
}
