// The durable KEK flow of a KEK with branch keys, through the HTTP API on the dev host, down to the
// Key Vault peer and Azurite: a rotation re-wraps the branch keys only (DEK rows untouched); an
// emergency (two people) replaces them, moves every DEK, and revokes the compromised version only
// once the count proves nothing references it. Every DEK decrypts through lib/envelope throughout.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { drainEvents, ledgerEntries, stackSuite, VAULT } from "../rotation/stack";
import { dekRows, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { Envelope } from "../../../lib/envelope/envelope";

const suite = stackSuite();

async function post(h: HierarchyStack, path: string, who: [string, ...string[]], body: unknown): Promise<{ status: number; json: Record<string, unknown>; body: string }> {
  const r = await h.s.host.invokeHttp("POST", path, { headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal(who[0], who.slice(1)) }, body });
  return { status: r.status, body: r.body, json: r.json() as Record<string, unknown> };
}

const OPERATOR: [string, ...string[]] = ["olivia", ROLES.operator];
const APPROVER: [string, ...string[]] = ["adam", ROLES.approver];

async function finished(h: HierarchyStack, rotationId: string): Promise<RotationOutput> {
  return (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 })).output as RotationOutput;
}

async function vaultState(h: HierarchyStack): Promise<Record<string, boolean>> {
  return Object.fromEntries((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).map((v) => [v.version, v.enabled]));
}

interface EventBody { type: string; keyId: string; details?: Record<string, string | number | boolean> }

describe("the durable KEK flow of a KEK with branch keys", () => {
  it("POST /api/rotations re-wraps the branch keys under the new version, touches no DEK row, keeps every DEK decryptable, and tells consumers to drop cached keys", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c", "t-d"], isolated: ["t-iso"] });
    const branches = (await h.rt.store.all(h.kek.keyId)).length;
    expect(branches).toBeGreaterThanOrEqual(2); // shared slots in use + the dedicated one
    const rowsBefore = await dekRows(h);
    // A consumer that has been decrypting: its branch-key cache is warm.
    const consumer = new HierarchyDekResolver(h.rt.deks, h.rt.keys);
    const [firstKey, firstCt] = [...h.cts][0]!;
    expect((await new Envelope(consumer).decrypt(firstCt)).toString()).toBe(`${firstKey.split("/")[0]} data v1`);
    expect(consumer.branchCache.size).toBe(1);
    await drainEvents(h.s);
    const unwrapsBefore = suite.peers.vault.admin.stats().unwrapCalls;

    const r = await post(h, "/api/rotations", OPERATOR, { keyId: h.kek.keyId, reason: "quarterly rotation of the tenant KEK", mode: "manual" });
    expect(r.status, r.body).toBe(202);
    const rotationId = r.json.rotationId as string;
    const out = await finished(h, rotationId);
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    const v2 = out.versionAfter!;
    expect(out.counts).toMatchObject({ "hierarchy.branchKeysRewrapped": branches, total: 0, remainingOld: 0 });

    // Every branch key under the new version, none left under the old; no DEK row changed.
    expect(await h.rt.store.countUnder(h.kek.keyId, v2)).toBe(branches);
    expect(await h.rt.store.countUnder(h.kek.keyId, h.kek.v1)).toBe(0);
    expect(await dekRows(h)).toEqual(rowsBefore);
    // Remote cost by branch keys, not DEKs: an unwrap to re-wrap, one to prove the new wrap, plus
    // the validation probes of the new version.
    const unwraps = suite.peers.vault.admin.stats().unwrapCalls - unwrapsBefore;
    expect(unwraps).toBeGreaterThanOrEqual(2 * branches);
    expect(unwraps).toBeLessThanOrEqual(3 * branches + 4);
    // The old version stays enabled (normal rotation: it retires after the overlap).
    expect(await vaultState(h)).toEqual({ [h.kek.v1]: true, [v2]: true });
    expect(await undecryptable(h)).toEqual([]);

    // Consumers heard it: an event with dropCachedKeys, which the resolver acts on.
    const events = (await drainEvents(h.s)).map((e) => e.body as EventBody);
    const drops = events.filter((e) => e.details?.dropCachedKeys === true);
    expect(drops.map((e) => e.details?.branchKeyEvent)).toEqual(["BranchKeysRotated"]);
    expect(consumer.onRotationEvent(drops[0]!)).toBe(true);
    expect(consumer.branchCache.size).toBe(0);
    expect(events.map((e) => e.type)).toContain("RotationCompleted");

    // The ledger: each workflow step once, a summary entry, and the chain verifies.
    const entries = await ledgerEntries(h.s, h.kek.keyId);
    const ids = entries.map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([
      `${rotationId}#hierarchy-kek-rotation:rewrapBranchKeys`, `${rotationId}#hierarchy-kek-rotation:validate`, `${rotationId}#branchKeysRewrapped`,
    ]));
    expect((await h.s.deps.ledger.verify()).ok).toBe(true);
  });

  it("an emergency approved by a second person replaces the branch keys under new ones, moves every DEK, and revokes the compromised version once nothing references it", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b", "t-c"], isolated: ["t-iso"] });
    const before = await h.rt.store.all(h.kek.keyId);
    await drainEvents(h.s);

    const requested = await post(h, "/api/rotations", OPERATOR, { keyId: h.kek.keyId, reason: "KEK private key exposed in a crash dump", mode: "emergency", revokeOld: true });
    expect(requested.status, requested.body).toBe(202);
    const rotationId = requested.json.rotationId as string;
    // Nothing changes until a second person approves.
    expect(Object.keys(await vaultState(h))).toEqual([h.kek.v1]);
    const self = await post(h, `/api/rotations/approve/${encodeURIComponent(rotationId)}`, [OPERATOR[0], ROLES.operator, ROLES.approver], {});
    expect(self.status).toBe(403);
    const approved = await post(h, `/api/rotations/approve/${encodeURIComponent(rotationId)}`, APPROVER, {});
    expect(approved.status, approved.body).toBe(202);

    const out = await finished(h, rotationId);
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    const v2 = out.versionAfter!;
    expect(out.versionBefore).toBe(h.kek.v1);
    expect(out.counts).toMatchObject({ "hierarchy.branches": before.length, "hierarchy.branchKeysCreated": before.length, "hierarchy.branchKeysDestroyed": before.length });

    // The compromised version is revoked; no branch key is under it, the old versions are gone.
    expect(await vaultState(h)).toEqual({ [h.kek.v1]: false, [v2]: true });
    expect((await h.s.inventory.get(h.kek.keyId))?.key.versions.find((v) => v.version === h.kek.v1)?.state).toBe("revoked");
    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.map((r) => r.kekVersion)).toEqual(after.map(() => v2));
    expect(after.map((r) => `${r.branchId}#${r.version}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version + 1}`).sort());
    // Every DEK moved under the new branch-key versions and still decrypts.
    for (const row of (await dekRows(h)).values()) expect(row).toMatch(/#2:/);
    expect(await undecryptable(h)).toEqual([]);

    // Ledger: approval, the hierarchy's steps, Revoked with its proof; events tell consumers.
    const entries = await ledgerEntries(h.s, h.kek.keyId);
    const revoked = entries.find((e) => e.type === "Revoked");
    expect(revoked).toMatchObject({ entryId: `${rotationId}#revoked:${h.kek.v1}`, counts: { remainingReferences: 0 } });
    expect(entries.map((e) => e.type)).toEqual(expect.arrayContaining(["EmergencyRequested", "Approved", "RewrapProgress", "Revoked", "Completed"]));
    expect(entries.map((e) => e.entryId)).toEqual(expect.arrayContaining([`${rotationId}#hierarchy-emergency:destroy`, `${rotationId}#branchKeysReplaced`]));
    expect((await h.s.deps.ledger.verify()).ok).toBe(true);
    const events = (await drainEvents(h.s)).map((e) => e.body as EventBody);
    expect(events.filter((e) => e.details?.dropCachedKeys === true).length).toBeGreaterThanOrEqual(1);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["Revoked", "RotationCompleted"]));
  });
});
