// The DEK fan-out's page activity (listTenants). The fan-out orchestrator never holds the tenant
// list: each episode asks for one page (a cursor into the DEK store's tenants index), rotates the
// tenants on it that are due, and continues as new with the next cursor. Input and history stay
// the size of one page whatever the number of tenants.
//
// A tenant is left off a page when
// - its DEK is not due in the fan-out's due period (the same Planner the policy timer runs, when
//   the deps can list policies), or
// - its rotation in this period (`dek:<tenant>@<period>`) already failed: "failures stop progress"; the
//   timer alerted a person, who re-runs it by hand. A restarted fan-out never re-runs it.
import { z } from "zod";
import { rotationIds } from "../domain/keys";
import { Planner } from "../domain/planner";
import type { RotationDeps } from "./ports";

export const TENANT_PAGE_MAX = 1000;

export const ListTenantsInput = z.object({
  /** The fan-out's due period; with it, tenants not due in it, or whose rotation in it failed, are
   * left off. Named `slot` because activity inputs are persisted in orchestration history. */
  slot: z.string().min(1).max(64).optional(),
  /** Opaque, from the previous page. */
  cursor: z.string().min(1).max(2048).optional(),
  limit: z.number().int().min(1).max(TENANT_PAGE_MAX).default(500),
});
export type ListTenantsPage = { tenants: string[]; cursor?: string; scanned: number };

/** The rotationId of a tenant's DEK rotation in a fan-out's due period. */
export const dekPeriodRotationId = rotationIds.dekInPeriod;

/** The ledger entryId the rotation workflow writes when a rotation fails (recordStep's
 * `<rotationId>#failed`). */
export const failedEntryId = (rotationId: string): string => `${rotationId}#failed`;

type EntryLookup = { byEntryId(keyId: string, entryId: string): Promise<unknown> };
const hasLookup = (l: unknown): l is EntryLookup => typeof (l as Partial<EntryLookup>).byEntryId === "function";

/** Whether the rotation already failed (the ledger holds its Failed entry). */
export async function periodRotationFailed(ledger: unknown, tenant: string, period: string): Promise<boolean> {
  if (!hasLookup(ledger)) return false;
  return (await ledger.byEntryId(`dek:${tenant}`, failedEntryId(dekPeriodRotationId(tenant, period)))) !== undefined;
}

export async function listTenants(deps: RotationDeps, input: z.output<typeof ListTenantsInput>): Promise<ListTenantsPage> {
  const page = await tenantsPage(deps, input.cursor, input.limit);
  if (!input.slot) return { tenants: page.tenants, scanned: page.tenants.length, ...(page.cursor ? { cursor: page.cursor } : {}) };
  const period = input.slot;
  const policies = deps.schedulePolicies ? await deps.schedulePolicies() : undefined;
  const planner = policies ? new Planner(deps.clock.now(), policies, "P1D") : undefined;
  const keep = await Promise.all(page.tenants.map(async (tenant) => {
    if (planner && !(await dueInPeriod(deps, planner, tenant, period))) return false;
    return !(await periodRotationFailed(deps.ledger, tenant, period));
  }));
  return { tenants: page.tenants.filter((_, i) => keep[i]), scanned: page.tenants.length, ...(page.cursor ? { cursor: page.cursor } : {}) };
}

async function dueInPeriod(deps: RotationDeps, planner: Planner, tenant: string, period: string): Promise<boolean> {
  const row = await deps.inventory.get(`dek:${tenant}`);
  if (!row) return false; // planned by nobody: the timer plans DEKs from the inventory too
  const item = planner.planKey(row.key);
  return item.dueNow && item.slot === period;
}

async function tenantsPage(deps: RotationDeps, cursor: string | undefined, limit: number): Promise<{ tenants: string[]; cursor?: string }> {
  const p = await deps.deks.tenantsPage({ limit, ...(cursor ? { continuation: cursor } : {}) });
  return { tenants: p.tenants, ...(p.continuation ? { cursor: p.continuation } : {}) };
}
