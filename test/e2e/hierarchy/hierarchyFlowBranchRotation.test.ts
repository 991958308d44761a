// Branch-key rotation as a durable workflow: POST /api/rotations with `branchKeys` on a KEK with
// branch keys runs the KEK rotation and then gives the asked branch keys (every one, or those of the
// named tenants) a new version under the new KEK version, their DEKs re-wrapped locally, the old
// versions destroyed; every ciphertext still decrypts.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite } from "../rotation/stack";
import { startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();

async function post(h: HierarchyStack, body: Record<string, unknown>): Promise<{ status: number; body: string; rotationId?: string }> {
  const r = await h.s.host.invokeHttp("POST", "/api/rotations", {
    headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("olivia", [ROLES.operator]) },
    body: { keyId: h.kek.keyId, reason: "scheduled branch-key rotation", mode: "manual", ...body },
  });
  return { status: r.status, body: r.body, ...(r.status === 202 ? { rotationId: (r.json() as { rotationId: string }).rotationId } : {}) };
}

async function rotate(h: HierarchyStack, body: Record<string, unknown>): Promise<RotationOutput> {
  const r = await post(h, body);
  expect(r.status, r.body).toBe(202);
  return (await h.s.host.client.waitForCompletion(instanceIdFor(r.rotationId!), { timeoutMs: 120_000 })).output as RotationOutput;
}

/** branchId → live versions of the KEK's branch keys. */
async function versions(h: HierarchyStack): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const r of await h.rt.store.all(h.kek.keyId)) out.set(r.branchId, [...(out.get(r.branchId) ?? []), r.version].sort());
  return out;
}

describe("branch-key rotation through the durable KEK flow", () => {
  it("rotates the branch key of the named tenants only, then every branch key; DEKs move to the new versions, old versions are destroyed, every ciphertext decrypts", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d"], slots: 2 });
    const before = await versions(h);
    expect(before.size).toBe(2);
    const branchOfA = (await h.rt.store.assignment(h.kek.keyId, "t-a"))!.branchId;

    // Bad input: a clear 400 and nothing started.
    for (const bad of [{ branchKeys: { tenants: [] } }, { branchKeys: "all" }, { branchKeys: true, mode: "emergency", revokeOld: true }]) {
      const r = await post(h, bad);
      expect(r.status, r.body).toBe(400);
      expect(r.body).toMatch(/branchKeys/);
    }

    const one = await rotate(h, { branchKeys: { tenants: ["t-a"] } });
    expect(one.outcome, JSON.stringify(one)).toBe("completed");
    const afterOne = await versions(h);
    for (const [branchId, vs] of before) expect(afterOne.get(branchId)).toEqual(branchId === branchOfA ? [vs[0]! + 1] : vs);
    for (const r of await h.rt.store.all(h.kek.keyId)) expect(r.kekVersion).toBe(one.versionAfter);
    for (const dek of (await h.rt.deks.scan("t-a")).items) expect(dek.branchVersion).toBe(afterOne.get(branchOfA)![0]);
    expect(await undecryptable(h)).toEqual([]);
    const entries = await ledgerEntries(h.s, h.kek.keyId);
    expect(entries.find((e) => e.type === "RewrapProgress" && e.details?.hierarchy === "branch-rotation")).toMatchObject({ counts: { branchKeysCreated: 1 } });
    expect(entries.some((e) => e.details?.dropCachedKeys === true && e.details.branchKeyEvent === "BranchKeysDestroyed")).toBe(true);

    const all = await rotate(h, { branchKeys: true });
    expect(all.outcome, JSON.stringify(all)).toBe("completed");
    const afterAll = await versions(h);
    for (const [branchId, vs] of afterOne) expect(afterAll.get(branchId)).toEqual([vs[0]! + 1]);
    expect(await undecryptable(h)).toEqual([]);
  });
});
