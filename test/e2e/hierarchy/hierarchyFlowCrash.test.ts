// The hierarchy's activities in the durable KEK flow run in bounded slices and survive a crash of
// the host in the middle of one: the workflow's checkpoint row, not the activity call, holds where
// the run stands, so the resumed flow finishes without loss and without doing finished work again
// (no second version of any branch key, no DEK row written twice, no ledger entry twice).
import "../../../dev/host";
import { afterEach, describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite, VAULT } from "../rotation/stack";
import { dekRows, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();
afterEach(() => suite.peers.vault.admin.clearFaults());

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`[test] timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function expectCleanLedger(h: HierarchyStack): Promise<void> {
  const ids = (await ledgerEntries(h.s, h.kek.keyId)).map((e) => e.entryId);
  expect(new Set(ids).size).toBe(ids.length);
  expect((await h.s.deps.ledger.verify()).ok).toBe(true);
}

describe("the hierarchy's durable activities: slices and crashes", () => {
  it("a KEK rotation whose slices end after every step loops until done: one activity call per slice, every branch key re-wrapped once", async () => {
    const h = await startHierarchyStack(suite, { compose: { hierarchy: { sliceMs: 0 } } });
    const branches = (await h.rt.store.all(h.kek.keyId)).length;
    const rotationId = `${h.kek.keyId}@manual:sliced`;
    const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice" });
    const done = await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 });
    const out = done.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ "hierarchy.branchKeysRewrapped": branches });
    // rewrapBranchKeys → validate → done: a slice ends after each step, and the flow calls again
    // (history names the activity once per call, in its TaskScheduled event).
    const history = JSON.stringify(await h.s.host.client.getStatus(started.instanceId, { showHistory: true }));
    expect(history.split(`"${DURABLE.activities.hierarchyKekRotation}"`).length - 1).toBeGreaterThanOrEqual(2);
    expect(await h.rt.store.countUnder(h.kek.keyId, out.versionAfter!)).toBe(branches);
    expect(await undecryptable(h)).toEqual([]);
    await expectCleanLedger(h);
  });

  it("an emergency whose slices end at every checkpoint loops until done: every DEK moved once, the compromised version revoked", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c"], isolated: ["t-iso"], compose: { hierarchy: { sliceMs: 0 } } });
    const before = await h.rt.store.all(h.kek.keyId);
    const rotationId = `${h.kek.keyId}@emergency:sliced`;
    const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "emergency", actor: "olivia", mode: "emergency", revokeOld: true, compromisedVersion: h.kek.v1 });
    const out = (await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    const history = JSON.stringify(await h.s.host.client.getStatus(started.instanceId, { showHistory: true }));
    // plan → create → validate → rewrap → destroy → revoke: a slice per step.
    expect(history.split(`"${DURABLE.activities.hierarchyEmergency}"`).length - 1).toBeGreaterThanOrEqual(4);
    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.map((r) => `${r.branchId}#${r.version}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version + 1}`).sort());
    for (const row of (await dekRows(h)).values()) expect(row).toMatch(/#2:/);
    expect(Object.fromEntries((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).map((v) => [v.version, v.enabled]))).toEqual({ [h.kek.v1]: false, [out.versionAfter!]: true });
    expect(await undecryptable(h)).toEqual([]);
    await expectCleanLedger(h);
  });

  it("a crash of the host while a KEK rotation re-wraps its branch keys resumes to the end: each branch key once under the new version, no DEK row touched", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d", "t-e"], sharedBranches: 8 });
    const before = await h.rt.store.all(h.kek.keyId);
    const rows = await dekRows(h);
    suite.peers.vault.admin.setLatency("unwrapKey", 300);
    const rotationId = `${h.kek.keyId}@manual:crash`;
    await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice" });
    // Mid-activity: the re-wrap has begun (a branch key left v1), the rotation is not finished.
    await waitUntil("the first branch key re-wrapped", async () => (await h.rt.store.countUnder(h.kek.keyId, h.kek.v1)) < before.length);
    await h.s.host.crash();
    suite.peers.vault.admin.clearFaults();
    await h.s.host.resume({ visibilityTimeoutMs: 0 });
    const out = (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");

    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.map((r) => `${r.branchId}#${r.version}:${r.signature}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version}:${r.signature}`).sort());
    expect(after.every((r) => r.kekVersion === out.versionAfter)).toBe(true);
    expect(await dekRows(h)).toEqual(rows);
    expect((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).length).toBe(2);
    expect(await undecryptable(h)).toEqual([]);
    await expectCleanLedger(h);
  });

  it("a crash of the host while an emergency creates its new branch keys resumes to the end: one new version per branch key, every DEK moved once, the compromised version revoked", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d"], isolated: ["t-iso"], sharedBranches: 4 });
    const before = await h.rt.store.all(h.kek.keyId);
    suite.peers.vault.admin.setLatency("sign", 300);
    const rotationId = `${h.kek.keyId}@emergency:crash`;
    // What an approved emergency starts (the API's two-person path is covered in hierarchyFlowRotation).
    await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "emergency", actor: "olivia", mode: "emergency", revokeOld: true, compromisedVersion: h.kek.v1 });
    await waitUntil("the first new branch-key version", async () => (await h.rt.store.all(h.kek.keyId)).length > before.length);
    await h.s.host.crash();
    suite.peers.vault.admin.clearFaults();
    await h.s.host.resume({ visibilityTimeoutMs: 0 });
    const out = (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");

    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.map((r) => `${r.branchId}#${r.version}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version + 1}`).sort());
    expect(after.every((r) => r.kekVersion === out.versionAfter)).toBe(true);
    for (const row of (await dekRows(h)).values()) expect(row).toMatch(/#2:/);
    const versions = Object.fromEntries((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).map((v) => [v.version, v.enabled]));
    expect(versions).toEqual({ [h.kek.v1]: false, [out.versionAfter!]: true });
    expect(await undecryptable(h)).toEqual([]);
    await expectCleanLedger(h);
  });
});
