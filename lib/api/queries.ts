// The read side of the API (keys, plan, policies, ledger, evidence, JWKS, health) and policy writes.
import { createHash } from "node:crypto";
import { z } from "zod";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import { Planner, type PlanItem } from "../domain/planner";
import { compilePolicy, policyKey, type Policy } from "../domain/policy";
import { durationBounds, parseDuration } from "../domain/schedule";
import { buildEvidencePack, type EvidencePack, type EvidencePolicy } from "../ledger/evidence";
import type { LedgerEntry, LedgerVerification } from "../ports";
import type { Principal } from "../http/principal";
import { rotationMetrics } from "../telemetry";
import type { AuditRecord } from "../ledger/verifyCheckpoint";
import { ledgerVerificationComponent, reusedVaultComponent } from "./healthComponents";
import type { ApiServices, ComponentHealth } from "./ports";
import { branchKeysPlanOf } from "./branchSchedule";
import { policyOf } from "./retirement";

// ---- keys and plan ------------------------------------------------------------------------------

export interface KeyView {
  keyId: string;
  kind: string;
  tenant: string;
  policyId?: string;
  primaryVersion?: string;
  versions: { version: string; state: string; createdAt: string; expiresAt?: string }[];
  lastRotatedAt?: string;
  lastRotationId?: string;
  nextDue?: string;
  dueNow: boolean;
  planReason: string;
  expiresAt?: string;
}

export async function listKeys(s: ApiServices): Promise<KeyView[]> {
  const planner = new Planner(s.clock.now(), await s.policies.all(), "P1D");
  const out: KeyView[] = [];
  for await (const { key } of s.inventory.list()) {
    const p = planner.planKey(key);
    out.push({
      keyId: key.keyId, kind: key.kind, tenant: key.tenant, ...(key.policyId ? { policyId: key.policyId } : {}),
      ...(key.primaryVersion ? { primaryVersion: key.primaryVersion } : {}),
      versions: key.versions.map((v) => ({ version: v.version, state: v.state, createdAt: v.createdAt, ...(v.expiresAt ? { expiresAt: v.expiresAt } : {}) })),
      ...(key.lastRotatedAt ? { lastRotatedAt: key.lastRotatedAt } : {}), ...(key.lastRotationId ? { lastRotationId: key.lastRotationId } : {}),
      ...(p.dueAt ? { nextDue: p.dueAt } : {}), dueNow: p.dueNow, planReason: p.reason, ...(p.expiresAt ? { expiresAt: p.expiresAt } : {}),
    });
  }
  return out;
}

const MAX_HORIZON_MS = 5 * 366 * 86_400_000;

export const PlanQuery = z.strictObject({ horizon: z.string().max(64).default("P90D") });

export async function getPlan(s: ApiServices, horizon: string): Promise<{ generatedAt: string; horizon: string; items: PlanItem[] }> {
  const dur = parseDuration(horizon, "horizon");
  const b = durationBounds(dur);
  if (b.minMs <= 0 || b.maxMs > MAX_HORIZON_MS) throw new InvalidRequestError("HorizonInvalid", "horizon must be longer than zero and at most five years", { field: "horizon" });
  const now = s.clock.now();
  const policies = await s.policies.all();
  const planner = new Planner(now, policies, dur, { listDue: true });
  const policyByKey = new Map(policies.map((p) => [policyKey(p.tenant, p.policyId), p]));
  const items: PlanItem[] = [];
  for await (const { key } of s.inventory.list()) {
    const item = planner.planKey(key);
    // A KEK whose policy rotates its branch keys: the next (or due) branch-key rotation.
    const branchKeys = await branchKeysPlanOf(s, planner, key, policyOf(key, policyByKey));
    if (branchKeys) item.branchKeys = branchKeys;
    if (inPlan(item)) items.push(item);
  }
  return { generatedAt: now.toISOString(), horizon, items };
}

/** What a plan over a horizon shows: keys with a rotation or an expiry warning within it, and keys
 * that will never rotate whatever the horizon (no usable policy, suspended, a schedule or window
 * that never comes), which someone must look at. A key next due after the horizon is left out. */
function inPlan(item: PlanItem): boolean {
  return item.withinHorizon || item.branchKeys?.withinHorizon === true || item.warnings.length > 0 || item.dueAt === undefined;
}

// ---- policies -----------------------------------------------------------------------------------

export const POLICY_ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'");
export const TENANT = z.string().regex(/^[A-Za-z0-9-]{1,127}$/, "must be 1-127 letters, digits or '-'");
export const PoliciesQuery = z.strictObject({ tenant: TENANT.optional() });

export interface PolicyView {
  policy: Policy;
  etag: string;
  updatedAt: string;
}

export async function listPolicies(s: ApiServices, tenant?: string): Promise<PolicyView[]> {
  const out: PolicyView[] = [];
  for await (const p of s.policies.list(tenant)) out.push({ policy: p.policy, etag: p.etag, updatedAt: p.updatedAt });
  return out.sort((a, b) => `${a.policy.tenant}/${a.policy.policyId}`.localeCompare(`${b.policy.tenant}/${b.policy.policyId}`));
}

export async function getPolicy(s: ApiServices, policyId: string, tenant?: string): Promise<PolicyView> {
  const matches = (await listPolicies(s, tenant)).filter((p) => p.policy.policyId === policyId);
  if (matches.length === 0) throw new InvalidRequestError("PolicyNotFound", `no policy ${policyId}${tenant ? ` in tenant ${tenant}` : ""}`, { status: 404, field: "policyId" });
  if (matches.length > 1) throw new InvalidRequestError("TenantRequired", `policy ${policyId} exists in several tenants; add ?tenant=`, { field: "tenant" });
  return matches[0]!;
}

/** One entity-tag (RFC 9110 section 8.8.3: `"…"` or `W/"…"`, no spaces or quotes inside) or `*`;
 * an absent or empty header means "create". Lists (`"a", "b"`, `*, *`) and bare words (`x`) are
 * refused with 400; a well-formed tag that is not the row's current one is the store's 412. */
function parseIfMatch(raw: string | undefined): string | undefined {
  const v = raw?.trim() ?? "";
  if (v === "") return undefined;
  if (v === "*" || /^(W\/)?"[\x21\x23-\x7e]*"$/.test(v)) return v;
  throw new InvalidRequestError("IfMatchInvalid", `If-Match must be one ETag as returned by GET (W/"…") or *, not ${JSON.stringify(v.slice(0, 80))}`, { field: "If-Match" });
}

/** PUT /api/policies/{policyId}: no If-Match creates (409 if it exists), If-Match: * creates or
 * replaces, If-Match: <etag> replaces that version only (412 if it changed). */
export async function putPolicy(s: ApiServices, who: Principal, policyId: string, body: unknown, ifMatch: string | undefined): Promise<{ created: boolean; view: PolicyView }> {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new InvalidRequestError("ValidationFailed", "the body must be a policy object", { field: "policy" });
  const input = body as Record<string, unknown>;
  if (input.policyId !== undefined && input.policyId !== policyId) {
    throw new InvalidRequestError("ValidationFailed", `policyId: the body names ${JSON.stringify(input.policyId).slice(0, 64)} but the URL names ${policyId}`, { field: "policyId" });
  }
  const expected = parseIfMatch(ifMatch);
  let stored;
  try {
    stored = await s.policies.put({ ...input, policyId }, expected);
  } catch (err) {
    if (err instanceof RotationConflictError && expected !== undefined) {
      throw new InvalidRequestError("PreconditionFailed", `policy ${policyId} changed since it was read (If-Match ${expected.slice(0, 80)}); read it again`, { status: 412, cause: err });
    }
    throw err;
  }
  const p = stored.policy;
  await s.ledger.append({
    keyId: `policy:${p.tenant}/${p.policyId}`, entryId: `PolicyChanged:${createHash("sha256").update(stored.etag).digest("hex").slice(0, 32)}`, type: "PolicyChanged",
    actor: who.name, at: stored.updatedAt, details: { tenant: p.tenant, policyId: p.policyId, status: p.status, created: expected === undefined },
  });
  return { created: expected === undefined, view: { policy: p, etag: stored.etag, updatedAt: stored.updatedAt } };
}

// ---- ledger and evidence ------------------------------------------------------------------------

export const CHAIN_ID = z.string().min(3).max(300).regex(/^[a-z]+:[A-Za-z0-9@:./_-]+$/, "must be a keyId such as kek:<vault>/<key>");
export const LedgerQuery = z.strictObject({
  fromSeq: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

export async function ledgerEntries(s: ApiServices, keyId: string, q: z.output<typeof LedgerQuery>): Promise<{ keyId: string; entries: LedgerEntry[]; nextSeq?: number }> {
  // Any spelling of a managed key reads its chain, which is under the inventory's (canonical) keyId.
  keyId = (await s.inventory.get(keyId))?.key.keyId ?? keyId;
  const entries: LedgerEntry[] = [];
  let nextSeq: number | undefined;
  for await (const e of s.ledger.entries(keyId)) {
    if (q.fromSeq !== undefined && e.seq < q.fromSeq) continue;
    if (entries.length >= q.limit) {
      nextSeq = e.seq;
      break;
    }
    entries.push(e);
  }
  if (entries.length === 0 && q.fromSeq === undefined && !(await s.inventory.get(keyId))) {
    throw new InvalidRequestError("NotFound", `no ledger chain for ${keyId}`, { status: 404, field: "keyId" });
  }
  return { keyId, entries, ...(nextSeq !== undefined ? { nextSeq } : {}) };
}

/** Verifies the whole ledger; the outcome feeds the keyrotor.ledger.verified gauge (the alert on
 * a ledger that does not verify reads it). */
export async function verifyLedger(s: ApiServices): Promise<LedgerVerification> {
  const v = await s.ledger.verify();
  rotationMetrics().setLedgerVerified(v.ok);
  return v;
}

/** Azure cuts an HTTP response at 230 s: GET /api/ledger/verify and /api/evidence work for this long,
 * then answer (settings.httpBudgetMs overrides it: a front end with a shorter timeout, the tests). */
export const HTTP_VERIFY_BUDGET_MS = 200_000;

export const VerifyQuery = z.strictObject({ continuation: z.string().min(1).max(1024).optional() });

export type HttpVerification = Omit<LedgerVerification, "ok"> & { ok: boolean | null; continuation?: string; from?: string; complete: boolean };

/** GET /api/ledger/verify within Azure's HTTP limit. Each call verifies the seal chain and then the
 * chains from `continuation` on (PartitionKey order) for `budgetMs`. Without `continuation`, a call
 * that reaches the end is the whole-ledger answer (`complete: true`, as before); otherwise the body
 * holds this page's own findings and the `continuation` to call with next, and `ok` is false when the
 * page found a break, null when it found none (the chains after it are not verified yet). Pages keep
 * no state on the server: a caller adds them up (the pages' chain breaks together are the full verify's;
 * seal-chain breaks, found by re-reading the seals, come with every page). A page runs as one range
 * (lib/ledger/verify.ts VerifyPage), not the parallel split of the one-shot verify. */
export async function verifyLedgerWithin(s: ApiServices, q: z.output<typeof VerifyQuery>, budgetMs = s.settings.httpBudgetMs ?? HTTP_VERIFY_BUDGET_MS, elapsed?: () => number): Promise<HttpVerification> {
  const started = Date.now();
  const spent = elapsed ?? (() => Date.now() - started);
  const v = await s.ledger.verify({ page: { from: q.continuation, stop: () => spent() >= budgetMs } });
  const complete = q.continuation === undefined && v.continuation === undefined;
  if (complete || !v.ok) rotationMetrics().setLedgerVerified(v.ok);
  return { ...v, ok: complete || !v.ok ? v.ok : null, complete, ...(q.continuation !== undefined ? { from: q.continuation } : {}) };
}

const instant = z.string().max(64).refine((v) => !Number.isNaN(Date.parse(v)), "must be an ISO-8601 instant");
export const EvidenceQuery = z.strictObject({
  from: instant,
  to: instant,
  label: z.string().max(64).optional(),
  /** The previous 202's continuation (asked with the same from, to and label): lib/api/evidenceExport.ts. */
  continuation: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be the continuation of a previous 202 answer").optional(),
});

export function evidencePolicy(p: Policy): EvidencePolicy {
  const base = { policyId: p.policyId, complianceTags: p.complianceTags, ...(p.description ? { name: p.description.slice(0, 100) } : {}) };
  if (p.schedule.every) return { ...base, interval: p.schedule.every };
  const c = compilePolicy(p);
  if (c.schedule.type !== "cron") return base;
  const timeline = c.schedule.timeline;
  return { ...base, dueAfter: (last) => new Date(timeline.nextAfter(last.getTime()) ?? Number.MAX_SAFE_INTEGER) };
}

export async function evidence(s: ApiServices, q: z.output<typeof EvidenceQuery>): Promise<EvidencePack> {
  const from = new Date(q.from).toISOString();
  const to = new Date(q.to).toISOString();
  if (to <= from) throw new InvalidRequestError("PeriodInvalid", "to must be after from", { field: "to" });
  const keys = [];
  for await (const { key } of s.inventory.list()) {
    keys.push({ keyId: key.keyId, tenant: key.tenant, ...(key.policyId ? { policyId: key.policyId } : {}), ...(key.versions[0] ? { createdAt: key.versions[0].createdAt } : {}) });
  }
  const policies = (await s.policies.all()).map(evidencePolicy);
  return buildEvidencePack({
    ledger: s.ledger, period: { from, to, ...(q.label ? { label: q.label } : {}) }, policies, keys, now: s.clock.now(), retention: s.settings.ledgerRetention,
  });
}

// ---- JWKS ---------------------------------------------------------------------------------------

export const JWKS_PART = z.string().regex(/^[A-Za-z0-9-]{1,127}$/, "must be letters, digits or '-'");

/** Public keys of a managed signing key: the primary and every version still verifying (secondary). */
export async function jwks(s: ApiServices, vault: string, name: string): Promise<{ keys: Record<string, unknown>[] }> {
  const keyId = `signing:${vault}/${name}`;
  parseKeyId(keyId);
  const key = (await s.inventory.get(keyId))?.key;
  if (!key) throw new InvalidRequestError("NotFound", `${keyId} is not a managed signing key`, { status: 404, field: "key" });
  const versions = key.versions.filter((v) => v.state === "primary" || v.state === "secondary").sort((a) => (a.state === "primary" ? -1 : 1));
  const keys = [];
  for (const v of versions) {
    const jwk = await s.vault.publicJwk(vault, name, v.version);
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...pub } = jwk as Record<string, unknown>;
    keys.push({ ...pub, use: "sig" });
  }
  return { keys };
}

// ---- health -------------------------------------------------------------------------------------

export interface HealthOptions {
  /** The ledger audit's stored record (lib/ledger/verifyCheckpoint.ts), shown as `ledgerVerification`
   * (default: the services' ledgerAudit store). */
  auditRecord?: () => Promise<AuditRecord>;
  vaultTimeoutMs?: number;
}

/** Components: notifications, each managed vault (`keyVault:<name>`), the last ledger verification,
 * and the services' probes (tables). */
export async function health(s: ApiServices, opts: HealthOptions = {}): Promise<{ status: "ok" | "degraded" | "down"; at: string; components: Record<string, ComponentHealth & Record<string, unknown>> }> {
  const n = await s.notificationHealth();
  const components: Record<string, ComponentHealth & Record<string, unknown>> = {
    notifications: { status: n.ok ? "ok" : "degraded", failures: n.failures, ...(n.lastFailureAt ? { lastFailureAt: n.lastFailureAt } : {}), ...(n.lastSuccessAt ? { lastSuccessAt: n.lastSuccessAt } : {}) },
  };
  const checks: Promise<void>[] = [...s.settings.managedVaults].sort().map(async (vault) => {
    components[`keyVault:${vault}`] = await reusedVaultComponent(s.vault, vault, s.clock.now().getTime(), opts.vaultTimeoutMs);
  });
  const store = s.ledgerAudit;
  const audit = opts.auditRecord ?? (store ? () => store.read() : undefined);
  if (audit) checks.push((async () => { components.ledgerVerification = await ledgerVerificationComponent(audit, s.clock.now()); })());
  await Promise.all([...checks, ...Object.entries(s.probes).map(async ([name, probe]) => {
    components[name] = { ...(await probe()) };
  })]);
  const statuses = Object.values(components).map((c) => c.status);
  const status = statuses.includes("down") ? "down" : statuses.includes("degraded") ? "degraded" : "ok";
  return { status, at: s.clock.now().toISOString(), components };
}
