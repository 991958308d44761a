// migrateFlat as a durable workflow: POST /api/rotations with migrateFlat moves a KEK's format-1
// DEKs under branch keys (wrapped under the new version), a page of tenants per activity call; every
// DEK keeps its plaintext, the flat rows are gone, and the next KEK rotation costs branch keys only.
import "../../../dev/host";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../../lib/envelope/dekRecord";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite, T0, VAULT } from "../rotation/stack";
import { startHierarchyStack, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();
const TENANTS = 55; // more than one page of tenants (50 per activity call)

async function rotate(h: HierarchyStack, body: Record<string, unknown>): Promise<RotationOutput> {
  const r = await h.s.host.invokeHttp("POST", "/api/rotations", {
    headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("olivia", [ROLES.operator]) },
    body: { keyId: h.kek.keyId, reason: "move the tenant KEK under branch keys", mode: "manual", ...body },
  });
  expect(r.status, r.body).toBe(202);
  const { rotationId } = r.json() as { rotationId: string };
  return (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 })).output as RotationOutput;
}

describe("migrateFlat through the durable KEK flow", () => {
  it("moves every format-1 DEK under branch keys wrapped under the new version, page by page; each keeps its plaintext, and the next rotation touches branch keys only", async () => {
    const h = await startHierarchyStack(suite, { tenants: [] });
    const plaintexts = new Map<string, Buffer>();
    const records: DekRecord[] = [];
    for (let t = 0; t < TENANTS; t++) {
      for (const n of [1, 2]) {
        const tenant = `m-${String(t).padStart(3, "0")}`;
        const plain = randomBytes(32);
        plaintexts.set(`${tenant}/${n}`, plain);
        records.push({
          format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(n), dekVersion: n, kekKeyId: h.kek.keyId, kekVersion: h.kek.v1, alg: "RSA-OAEP-256",
          wrapped: (await h.s.deps.vault.wrapKey(VAULT, h.kek.name, h.kek.v1, plain)).toString("base64url"), createdAt: T0, state: n === 2 ? "primary" : "secondary",
        });
      }
    }
    await h.s.dekStore.putMany(records.filter((r) => r.state !== "primary"));
    for (const r of records) if (r.state === "primary") await h.s.dekStore.addPrimary(r);

    const out = await rotate(h, { migrateFlat: true });
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ "hierarchy.dekRowsWritten": 2 * TENANTS, total: 0, remainingOld: 0 });
    // No flat DEK of the KEK is left; its branch keys are all under the new version.
    expect(await h.s.dekStore.countsByKekVersion(h.kek.keyId)).toEqual({});
    const branches = await h.rt.store.all(h.kek.keyId);
    expect(branches.length).toBeGreaterThan(0);
    expect(branches.every((b) => b.kekVersion === out.versionAfter)).toBe(true);
    // Every DEK, through lib/envelope's resolver, is the key it was.
    const resolver = new HierarchyDekResolver(h.rt.deks, h.rt.keys);
    let same = 0;
    for (const [k, plain] of plaintexts) {
      const [tenant, n] = k.split("/");
      const r = await resolver.resolve(tenant!, Number(n));
      expect(r.record.format).toBe(2);
      if (r.key.equals(plain)) same++;
    }
    expect(same).toBe(plaintexts.size);
    // Two pages of tenants: two activity calls, each with its own ledger entry.
    const entries = (await ledgerEntries(h.s, h.kek.keyId)).map((e) => e.entryId);
    expect(entries.filter((id) => /#hierarchy-migration~[0-9a-f]{16}:migrate$/.test(id))).toHaveLength(2);
    expect(new Set(entries).size).toBe(entries.length);

    // The next rotation: branch keys re-wrapped, no DEK row written, a remote cost by branch keys.
    const unwraps = suite.peers.vault.admin.stats().unwrapCalls;
    const next = await rotate(h, {});
    expect(next.outcome, JSON.stringify(next)).toBe("completed");
    expect(next.counts).toMatchObject({ "hierarchy.branchKeysRewrapped": branches.length, total: 0 });
    expect(suite.peers.vault.admin.stats().unwrapCalls - unwraps).toBeLessThanOrEqual(3 * branches.length + 4);
  });

  it("refuses migrateFlat in emergency mode with a 400 naming the field, and changes nothing", async () => {
    const h = await startHierarchyStack(suite, { tenants: [] });
    const r = await h.s.host.invokeHttp("POST", "/api/rotations", {
      headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("olivia", [ROLES.operator]) },
      body: { keyId: h.kek.keyId, reason: "suspected compromise of the KEK", mode: "emergency", migrateFlat: true },
    });
    expect(r.status, r.body).toBe(400);
    expect((r.json() as { error: { code: string; field?: string } }).error).toMatchObject({ code: "MigrateFlatNotApplicable", field: "migrateFlat" });
    expect((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).length).toBe(1);
  });
});
