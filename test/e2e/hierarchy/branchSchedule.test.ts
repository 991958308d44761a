// Scheduled branch-key rotation on real parts (durable host with history in Azurite, Key Vault peer,
// Service Bus peer, the app's functions including the policy timer): a KEK policy with
// branchKeys.every makes the timer start ONE rotation of the KEK for its primary branch keys older
// than `every`, under an id per KEK and due period; freezes, closed windows and a suspended policy
// hold it back; GET /api/plan shows it coming; afterwards every DEK still decrypts.
import "../../../dev/host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyClient } from "../../support/keyvault";
import { uniqueTableName } from "../../support/tables";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { BranchKeys } from "../../../lib/hierarchy/branchKeys";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import type { BranchKeysDue, PlanItem } from "../../../lib/domain/planner";
import type { LedgerEntry } from "../../../lib/ports";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationOutput, type RotationRequest, type RotationStatus } from "../../../lib/orchestration/workflows";
import { register, stackSuite, TENANT, VAULT } from "../rotation/stack";
import { startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The timer runs when the test fires it: its own schedule (resolved when the host starts) is put
// where it never comes during a test.
let schedule: string | undefined;
beforeAll(() => {
  schedule = process.env.KEYROTOR_TIMER_SCHEDULE;
  process.env.KEYROTOR_TIMER_SCHEDULE = "0 0 0 1 1 *";
});
afterAll(() => {
  if (schedule === undefined) delete process.env.KEYROTOR_TIMER_SCHEDULE;
  else process.env.KEYROTOR_TIMER_SCHEDULE = schedule;
});

const suite = stackSuite();

async function call(h: HierarchyStack, method: string, path: string, body?: unknown, role: string = ROLES.admin): Promise<{ status: number; body: string; json(): unknown }> {
  return h.s.host.invokeHttp(method, path, {
    headers: { "x-ms-client-principal": encodePrincipal("ada", [role]), ...(body !== undefined ? { "content-type": "application/json", "if-match": "*" } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
}

const branchPolicy = (extra: Record<string, unknown> = {}) => ({
  tenant: TENANT, kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", branchKeys: { every: "P90D" }, ...extra,
});

async function putPolicy(h: HierarchyStack, policyId: string, policy: Record<string, unknown>): Promise<void> {
  const r = await call(h, "PUT", `/api/policies/${policyId}`, { policyId, ...policy });
  expect(r.status, r.body).toBeLessThan(300);
}

interface OldKek {
  keyId: string;
  name: string;
  v1: string;
  /** The same shape as the stack's own KEK, for undecryptable(). */
  view: HierarchyStack;
}

/** A second KEK under `policyId` whose tenants' branch keys were created `daysOld` days ago (their
 * signed createdAt), with two DEKs per tenant and a ciphertext under each. */
async function seedOldKek(h: HierarchyStack, policyId: string, daysOld: number, tenants = ["o-a", "o-b", "o-c"]): Promise<OldKek> {
  const name = uniqueTableName("oldkek").toLowerCase();
  const created = await keyClient(suite.peers.vault).createRsaKey(name, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] });
  const v1 = created.properties.version!;
  const keyId = `kek:${VAULT}/${name}`;
  await register(h.s, { keyId, kind: "kek", tenant: TENANT, policyId, primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: new Date().toISOString() }] });
  const then = new Date(Date.now() - daysOld * DAY);
  const keys = new BranchKeys(h.rt.store, h.rt.kek, h.rt.keys.signer, { sharedBranches: h.rt.keys.sharedBranches, now: () => then });
  const writer = new HierarchyDeks(keys, h.rt.deks);
  const env = new Envelope(new HierarchyDekResolver(h.rt.deks, h.rt.keys, undefined, { primaryTtlMs: 0 }));
  const cts = new Map<string, string>();
  for (const tenant of tenants) {
    for (const v of [1, 2]) {
      await writer.create({ tenant, dekVersion: v, kekKeyId: keyId, kekVersion: v1 });
      cts.set(`${tenant}/${v}`, await env.encrypt(tenant, Buffer.from(`${tenant} data v${v}`)));
    }
  }
  return { keyId, name, v1, view: { ...h, kek: { keyId, name, v1 }, cts } };
}

async function plan(h: HierarchyStack, keyId: string): Promise<PlanItem | undefined> {
  const r = await call(h, "GET", "/api/plan?horizon=P1Y", undefined, ROLES.auditor);
  expect(r.status, r.body).toBe(200);
  return (r.json() as { items: PlanItem[] }).items.find((i) => i.keyId === keyId);
}

async function entries(h: HierarchyStack, keyId: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const e of h.s.deps.ledger.entries(keyId)) out.push(e);
  return out;
}
const lockHolders = async (h: HierarchyStack, keyId: string) => (await entries(h, keyId)).filter((e) => e.type === "LockAcquired").map((e) => e.rotationId);

/** branchId → versions stored for the KEK, ascending. */
async function branchVersions(h: HierarchyStack, keyId: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const r of await h.rt.store.all(keyId)) out.set(r.branchId, [...(out.get(r.branchId) ?? []), r.version].sort((a, b) => a - b));
  return out;
}

async function vaultVersions(name: string): Promise<number> {
  let n = 0;
  for await (const _ of keyClient(suite.peers.vault).listPropertiesOfKeyVersions(name)) n++;
  return n;
}

async function instanceExists(h: HierarchyStack, rotationId: string): Promise<boolean> {
  const s = await h.s.host.client.getStatus(instanceIdFor(rotationId)).catch(() => undefined);
  return s?.runtimeStatus !== undefined;
}

describe("scheduled branch-key rotation (policy branchKeys.every)", () => {
  it("the timer starts exactly one branch-key rotation for a KEK whose branch keys are older than every, even fired twice at once and again after; none for a KEK whose branch keys are fresh; the plan shows both; no KEK version is created and every DEK decrypts", async () => {
    const h = await startHierarchyStack(suite, { withPolicyTimer: true, tenants: ["t-a", "t-b", "t-c"], sharedBranches: 2 });
    // The stack's own KEK (branch keys made just now) under a policy that rotates them every 90 days.
    await putPolicy(h, "kek-policy", { ...branchPolicy(), kinds: ["kek", "dek", "signing", "secret"], rollbackWindow: "P7D" });
    await putPolicy(h, "branch-p", branchPolicy());
    const old = await seedOldKek(h, "branch-p", 100);
    const oldBefore = await branchVersions(h, old.keyId);
    const freshBefore = await branchVersions(h, h.kek.keyId);
    expect(oldBefore.size).toBe(2);

    // The plan: the old KEK's branch keys are due now, the fresh KEK's in about 90 days.
    const duePlan = (await plan(h, old.keyId))?.branchKeys as BranchKeysDue;
    expect(duePlan).toMatchObject({ dueNow: true, every: "P90D", reason: "schedule", dueCount: 2 });
    expect([...duePlan.branchIds].sort()).toEqual([...oldBefore.keys()].sort());
    expect(duePlan.rotationId).toBe(`${old.keyId}@branchKeys:${duePlan.slot}`);
    const freshPlan = (await plan(h, h.kek.keyId))?.branchKeys as BranchKeysDue;
    expect(freshPlan).toMatchObject({ dueNow: false, withinHorizon: true });
    expect(Date.parse(freshPlan.dueAt!) - Date.now()).toBeGreaterThan(89 * DAY);

    // Two timer instances firing at once (one past due), then the rotation runs to its end.
    await Promise.all([h.s.host.fireTimer("policyTimer"), h.s.host.fireTimer("policyTimer", { isPastDue: true })]);
    const done = await h.s.host.client.waitForCompletion(instanceIdFor(duePlan.rotationId), { timeoutMs: 120_000 });
    const out = done.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    await h.s.host.fireTimer("policyTimer");

    expect(await lockHolders(h, old.keyId)).toEqual([duePlan.rotationId]);
    expect(await lockHolders(h, h.kek.keyId)).toEqual([]);
    // Each due branch key has a new version (the old one destroyed); the fresh KEK's are untouched.
    const oldAfter = await branchVersions(h, old.keyId);
    for (const [branchId, vs] of oldBefore) expect(oldAfter.get(branchId), branchId).toEqual([vs.at(-1)! + 1]);
    for (const r of await h.rt.store.all(old.keyId)) expect(Date.now() - Date.parse(r.createdAt)).toBeLessThan(DAY);
    expect(await branchVersions(h, h.kek.keyId)).toEqual(freshBefore);
    // A branch-key rotation only: no new KEK version in the vault.
    expect(await vaultVersions(old.name)).toBe(1);
    expect(await undecryptable(old.view)).toEqual([]);
    expect(await undecryptable(h)).toEqual([]);
    // The next one is ~90 days away, under a new id.
    const next = (await plan(h, old.keyId))?.branchKeys as BranchKeysDue;
    expect(next).toMatchObject({ dueNow: false });
    expect(next.rotationId).not.toBe(duePlan.rotationId);
  });

  it("a freeze, a closed maintenance window and a suspended policy hold a due branch-key rotation back (the plan says why); once allowed the timer starts it", async () => {
    const h = await startHierarchyStack(suite, { withPolicyTimer: true, tenants: ["t-a"], sharedBranches: 2 });
    const day = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);
    await putPolicy(h, "branch-p", branchPolicy({ freezes: [{ from: day(-1), to: day(2), reason: "change freeze" }] }));
    const old = await seedOldKek(h, "branch-p", 100, ["o-a"]);

    const frozen = (await plan(h, old.keyId))?.branchKeys as BranchKeysDue;
    expect(frozen).toMatchObject({ dueNow: false, reason: "frozen", frozenUntil: `${day(3)}T00:00:00.000Z` });
    await h.s.host.fireTimer("policyTimer");
    expect(await instanceExists(h, frozen.rotationId)).toBe(false);

    // A window that opens twelve hours from now, for an hour.
    const hour = (new Date().getUTCHours() + 12) % 24;
    await putPolicy(h, "branch-p", branchPolicy({ windows: [{ cron: `0 ${hour} * * *`, timeZone: "UTC", duration: "PT1H" }] }));
    const waiting = (await plan(h, old.keyId))?.branchKeys as BranchKeysDue;
    expect(waiting).toMatchObject({ dueNow: false, reason: "waitingForWindow", rotationId: frozen.rotationId });
    await h.s.host.fireTimer("policyTimer");
    expect(await instanceExists(h, frozen.rotationId)).toBe(false);

    await putPolicy(h, "branch-p", branchPolicy({ status: "suspended" }));
    const suspended = await plan(h, old.keyId);
    expect(suspended).toMatchObject({ reason: "policySuspended" });
    expect(suspended?.branchKeys).toBeUndefined();
    await h.s.host.fireTimer("policyTimer");
    expect(await instanceExists(h, frozen.rotationId)).toBe(false);
    expect(await lockHolders(h, old.keyId)).toEqual([]);

    await putPolicy(h, "branch-p", branchPolicy());
    await h.s.host.fireTimer("policyTimer");
    const done = await h.s.host.client.waitForCompletion(instanceIdFor(frozen.rotationId), { timeoutMs: 120_000 });
    expect((done.output as RotationOutput).outcome, JSON.stringify(done.output)).toBe("completed");
    expect(await lockHolders(h, old.keyId)).toEqual([frozen.rotationId]);
    expect(await undecryptable(old.view)).toEqual([]);
  });

  it("a KEK whose lock another rotation holds is not an error: the branch-key rotation is refused and the next firing starts it under the same id", async () => {
    const h = await startHierarchyStack(suite, { withPolicyTimer: true, tenants: ["t-a"], sharedBranches: 2 });
    await putPolicy(h, "branch-p", branchPolicy());
    const old = await seedOldKek(h, "branch-p", 100, ["o-a", "o-b"]);
    const due = (await plan(h, old.keyId))?.branchKeys as BranchKeysDue;
    // A manual KEK rotation that holds the lock for a while (its propagation wait).
    const slow = `${old.keyId}@manual:slow`;
    const input: RotationRequest = { rotationId: slow, keyId: old.keyId, trigger: "manual", actor: "olivia", reason: "slow rollout", propagationDelay: "PT8S" };
    await h.s.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(slow), input });
    for (let i = 0; i < 200 && ((await h.s.host.client.getStatus(instanceIdFor(slow)))?.customStatus as RotationStatus | undefined)?.lock !== "held"; i++) await sleep(50);

    await h.s.host.fireTimer("policyTimer"); // resolves: a refusal is no failure of the timer
    const refused = await h.s.host.client.waitForCompletion(instanceIdFor(due.rotationId), { timeoutMs: 60_000 });
    expect(refused.output).toMatchObject({ outcome: "refused", heldBy: slow });
    expect((await h.s.host.client.waitForCompletion(instanceIdFor(slow), { timeoutMs: 120_000 })).output).toMatchObject({ outcome: "completed" });

    await h.s.host.fireTimer("policyTimer");
    const done = await h.s.host.client.waitForCompletion(instanceIdFor(due.rotationId), { timeoutMs: 120_000 });
    expect((done.output as RotationOutput).outcome, JSON.stringify(done.output)).toBe("completed");
    expect(await lockHolders(h, old.keyId)).toEqual([slow, due.rotationId]);
    expect(await undecryptable(old.view)).toEqual([]);
  });
});
