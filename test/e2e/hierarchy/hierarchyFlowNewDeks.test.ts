// The emergency approval's "new DEK versions for every tenant" flag, carried from the approval
// request through the rotation input to the hierarchy's emergency: every tenant gets a new primary
// DEK (consumers re-encrypt), old ciphertexts still decrypt, the ledger records the approver's flag.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { ledgerEntries, stackSuite } from "../rotation/stack";
import { envelopeOver, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();

async function post(h: HierarchyStack, path: string, who: [string, ...string[]], body: unknown): Promise<{ status: number; body: string; json: Record<string, unknown> }> {
  const r = await h.s.host.invokeHttp("POST", path, { headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal(who[0], who.slice(1)) }, body });
  return { status: r.status, body: r.body, json: r.json() as Record<string, unknown> };
}

describe("the emergency approval's newDekVersions flag", () => {
  it("gives every tenant a new primary DEK version in the emergency it approves, and the ledger's Approved entry names the flag", async () => {
    const tenants = ["t-a", "t-b", "t-c"];
    const h = await startHierarchyStack(suite, { tenants });
    const requested = await post(h, "/api/rotations", ["olivia", ROLES.operator], { keyId: h.kek.keyId, reason: "KEK exposed: re-encrypt all affected data", mode: "emergency", revokeOld: true });
    expect(requested.status, requested.body).toBe(202);
    const rotationId = requested.json.rotationId as string;
    const path = `/api/rotations/approve/${encodeURIComponent(rotationId)}`;
    // Bad input: a clear 400, nothing approved.
    const bad = await post(h, path, ["adam", ROLES.approver], { newDekVersions: "yes" });
    expect(bad.status, bad.body).toBe(400);
    expect(bad.body).toMatch(/newDekVersions/);
    const approved = await post(h, path, ["adam", ROLES.approver], { newDekVersions: true });
    expect(approved.status, approved.body).toBe(202);

    const out = (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ "hierarchy.dekVersionsCreated": tenants.length });
    for (const t of tenants) expect((await h.rt.deks.getPrimary(t))?.dekVersion).toBe(3);
    // Old data still decrypts; new data goes under the new DEK version.
    expect(await undecryptable(h)).toEqual([]);
    const env = envelopeOver(h.rt);
    expect((await env.decrypt(await env.encrypt("t-a", Buffer.from("re-encrypted")))).toString()).toBe("re-encrypted");

    const entries = await ledgerEntries(h.s, h.kek.keyId);
    expect(entries.find((e) => e.type === "Approved")?.details).toMatchObject({ newDekVersions: true });
    expect(entries.find((e) => e.type === "Revoked")).toMatchObject({ counts: { remainingReferences: 0 } });
  });
});
