// Branch-key rotation as a rotation of its own: POST /api/rotations {keyId: <kek>, branchKeys} on a
// KEK with branch keys makes NO new KEK version. Under the KEK's lock, every asked branch key (every
// one, those of a tenant group, or named branch ids) gets a new version wrapped locally under the
// KEK's current primary version, its DEKs re-wrapped locally, the old version destroyed; per branch
// key exactly one remote unwrap (the old version) and one remote sign (the new record). Every
// ciphertext still decrypts through lib/envelope.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, seedVaultKey, stackSuite, VAULT } from "../rotation/stack";
import { tableClient } from "../../../lib/stores/tables";
import { dekRows, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();

async function post(h: HierarchyStack, body: Record<string, unknown>): Promise<{ status: number; body: string; rotationId?: string }> {
  const r = await h.s.host.invokeHttp("POST", "/api/rotations", {
    headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("olivia", [ROLES.operator]) },
    body: { keyId: h.kek.keyId, reason: "scheduled branch-key rotation", mode: "normal", ...body },
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

/** The KEK's versions in the vault and the inventory's primary: what a branch-key rotation must not change. */
async function kekState(h: HierarchyStack): Promise<string> {
  const vault = (await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).map((v) => `${v.version}:${v.enabled}`).sort();
  const inv = await h.s.inventory.get(h.kek.keyId);
  return JSON.stringify({ vault, primary: inv?.key.primaryVersion, versions: inv?.key.versions.map((v) => `${v.version}:${v.state}`) });
}

/** Ledger seals written so far: each is one remote sign with the seal key, not the branch signer. */
async function seals(h: HierarchyStack): Promise<number> {
  let n = 0;
  for await (const e of tableClient(h.s.cfg, "seals").listEntities<{ signature?: string }>()) if (e.signature) n++;
  return n;
}

/** Remote Key Vault calls the peer served while `run` ran; `sign` counts the branch signer's only
 * (the ledger seals' signs, one per seal row, taken out). */
async function remoteCalls<T>(h: HierarchyStack, run: () => Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  const before: Record<string, number> = { ...suite.peers.vault.admin.stats().calls };
  const sealsBefore = await seals(h);
  const result = await run();
  const after: Record<string, number> = { ...suite.peers.vault.admin.stats().calls };
  after.sign = (after.sign ?? 0) - ((await seals(h)) - sealsBefore);
  const calls: Record<string, number> = {};
  for (const [op, n] of Object.entries(after)) if (n - (before[op] ?? 0) > 0) calls[op] = n - (before[op] ?? 0);
  return { result, calls };
}

describe("standalone branch-key rotation (POST /api/rotations branchKeys)", () => {
  it("rotates a tenant group's branch key, then named branch ids, then every branch key: no new KEK version, each new branch-key version under the KEK's current primary, 1 remote unwrap + 1 remote sign per branch key, every DEK decrypts", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d"], isolated: ["t-iso"], sharedBranches: 2 });
    const kekBefore = await kekState(h);
    const before = await versions(h);
    expect(before.size).toBe(3); // two shared, one dedicated
    const branchOfA = (await h.rt.store.assignment(h.kek.keyId, "t-a"))!.branchId;

    // One tenant group: only t-a's branch key.
    const one = await remoteCalls(h, () => rotate(h, { branchKeys: { tenants: ["t-a"] } }));
    expect(one.result.outcome, JSON.stringify(one.result)).toBe("completed");
    expect(one.result.versionAfter).toBeUndefined();
    expect(one.result.versionBefore).toBeUndefined();
    expect(one.result.counts).toMatchObject({ "hierarchy.branchKeysCreated": 1, "hierarchy.branchKeysDestroyed": 1 });
    expect(one.calls.unwrapKey, JSON.stringify(one.calls)).toBe(1);
    expect(one.calls.sign, JSON.stringify(one.calls)).toBe(1);
    for (const op of ["createKey", "rotateKey", "wrapKey", "encrypt", "decrypt", "updateKey"]) expect(one.calls[op], op).toBeUndefined();
    const afterOne = await versions(h);
    for (const [branchId, vs] of before) expect(afterOne.get(branchId)).toEqual(branchId === branchOfA ? [vs[0]! + 1] : vs);
    for (const r of await h.rt.store.all(h.kek.keyId)) expect(r.kekVersion).toBe(h.kek.v1);
    for (const dek of (await h.rt.deks.scan("t-a")).items) expect(dek.branchVersion).toBe(afterOne.get(branchOfA)![0]);
    expect(await kekState(h)).toBe(kekBefore);
    expect(await undecryptable(h)).toEqual([]);

    // Named branch ids: the dedicated one and the other shared one.
    const named = [...before.keys()].filter((b) => b !== branchOfA).sort();
    const two = await remoteCalls(h, () => rotate(h, { branchKeys: { branchIds: named } }));
    expect(two.result.outcome, JSON.stringify(two.result)).toBe("completed");
    expect(two.calls.unwrapKey, JSON.stringify(two.calls)).toBe(2);
    expect(two.calls.sign, JSON.stringify(two.calls)).toBe(2);
    const afterTwo = await versions(h);
    for (const [branchId, vs] of afterOne) expect(afterTwo.get(branchId)).toEqual(named.includes(branchId) ? [vs[0]! + 1] : vs);
    expect(await undecryptable(h)).toEqual([]);

    // Every branch key.
    const rowsBefore = await dekRows(h);
    const all = await remoteCalls(h, () => rotate(h, { branchKeys: true }));
    expect(all.result.outcome, JSON.stringify(all.result)).toBe("completed");
    expect(all.calls.unwrapKey, JSON.stringify(all.calls)).toBe(3);
    expect(all.calls.sign, JSON.stringify(all.calls)).toBe(3);
    expect(all.result.counts).toMatchObject({ "hierarchy.branchKeysCreated": 3, "hierarchy.dekRowsWritten": rowsBefore.size, "hierarchy.branchKeysDestroyed": 3 });
    const afterAll = await versions(h);
    for (const [branchId, vs] of afterTwo) expect(afterAll.get(branchId)).toEqual([vs[0]! + 1]);
    for (const r of await h.rt.store.all(h.kek.keyId)) expect(r.kekVersion).toBe(h.kek.v1);
    expect(await kekState(h)).toBe(kekBefore);
    expect(await undecryptable(h)).toEqual([]);

    // The ledger: started … the branchKeysRotated progress entry with counts … completed, no
    // VersionCreated or Promoted, and the consumers' drop event naming every rotated branch key (the
    // rotation is one run over all of them, so one event names them all).
    const entries = (await ledgerEntries(h.s, h.kek.keyId)) as { type: string; rotationId?: string; versionAfter?: string; counts?: Record<string, number>; details?: Record<string, unknown> }[];
    const mine = entries.filter((e) => e.rotationId === all.result.rotationId);
    expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(["RotationRequested", "LockAcquired", "RewrapProgress", "RewrapCompleted", "Completed", "LockReleased"]));
    expect(mine.some((e) => e.type === "VersionCreated" || e.type === "Promoted" || e.versionAfter !== undefined)).toBe(false);
    expect(mine.find((e) => e.type === "RewrapProgress" && e.details?.hierarchy === "branch-rotation")).toMatchObject({ counts: { branchKeysCreated: 3, dekRowsWritten: rowsBefore.size }, details: { kekVersion: h.kek.v1 } });
    const drops = mine.filter((e) => e.details?.dropCachedKeys === true && e.details.branchKeyEvent === "BranchKeysDestroyed");
    expect(new Set(drops.flatMap((e) => (typeof e.details?.branchIds === "string" ? e.details.branchIds.split(",") : [])))).toEqual(new Set(afterAll.keys()));

    // The status shows no KEK version change.
    const status = await h.s.host.invokeHttp("GET", `/api/rotations/${all.result.rotationId}`, { headers: { "x-ms-client-principal": encodePrincipal("ava", [ROLES.auditor]) } });
    expect(status.status, status.body).toBe(200);
    const view = status.json() as { phase: string; versionAfter?: string; versionBefore?: string; counts?: Record<string, number> };
    expect(view).toMatchObject({ phase: "completed", counts: { "hierarchy.branchKeysCreated": 3 } });
    expect(view.versionAfter).toBeUndefined();
    expect(view.versionBefore).toBeUndefined();
  });

  it("refuses bad input with a 4xx and changes nothing: malformed scopes, an unknown tenant or branch id, a KEK without branch keys, branchKeys with version or migrateFlat, in emergency mode, on a non-KEK", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b"], sharedBranches: 2 });
    const signing = await seedVaultKey(h.s, suite.peers, "signing", "branch-rot-signing");
    const bare = await seedVaultKey(h.s, suite.peers, "kek", "branch-rot-bare-kek");
    const kekBefore = await kekState(h);
    const before = JSON.stringify([...(await versions(h))]);
    const rowsBefore = await dekRows(h);
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ branchKeys: { tenants: [] } }, 400, /branchKeys/],
      [{ branchKeys: { branchIds: [] } }, 400, /branchKeys/],
      [{ branchKeys: { branchIds: ["not a branch id"] } }, 400, /branchKeys/],
      [{ branchKeys: { branchIds: ["s2-00000"], tenants: ["t-a"] } }, 400, /branchKeys/],
      [{ branchKeys: "all" }, 400, /branchKeys/],
      [{ branchKeys: true, migrateFlat: true }, 400, /BranchKeysStandalone/],
      [{ branchKeys: true, migrateFlat: false }, 400, /BranchKeysStandalone/],
      [{ branchKeys: true, version: h.kek.v1 }, 400, /BranchKeysStandalone/],
      [{ branchKeys: true, mode: "emergency", revokeOld: true }, 400, /branchKeys/],
      [{ keyId: signing.keyId, branchKeys: true }, 400, /BranchKeysNotApplicable/],
      [{ branchKeys: { tenants: ["t-a", "t-nobody"] } }, 400, /TenantHasNoBranchKey.*t-nobody/],
      [{ branchKeys: { branchIds: ["d-nobody", "s4-00003"] } }, 400, /BranchKeyUnknown.*d-nobody, s4-00003/],
      [{ keyId: bare.keyId, branchKeys: true }, 400, /KekHasNoBranchKeys/],
    ];
    for (const [body, status, code] of cases) {
      const r = await post(h, body);
      expect(r.status, `${JSON.stringify(body)} → ${r.body}`).toBe(status);
      expect(r.body).toMatch(code);
    }
    expect(JSON.stringify([...(await versions(h))])).toBe(before);
    expect(await dekRows(h)).toEqual(rowsBefore);
    expect(await kekState(h)).toBe(kekBefore);
    expect((await ledgerEntries(h.s, h.kek.keyId)).filter((e) => e.type === "RotationRequested")).toEqual([]);
  });
});
