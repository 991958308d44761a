// An emergency whose replacement step leaves a branch key still wrapped under the compromised KEK
// version (made under it after the step planned, e.g. by a tenant DEK rotation that checked the
// KEK's primary just before the promotion; forced here by the step's checkpoint answering done
// before it ran) must not plain re-wrap it under the new version and then revoke the compromised one
// as if nothing referenced it: that key's material was exposed. The flow stops loudly, nothing is
// re-wrapped and nothing revoked.
import "../../../dev/host";
import { describe, expect, it } from "vitest";
import { hierarchyRunId } from "../../../lib/hierarchy/durableActivities";
import type { RunState } from "../../../lib/hierarchy/workflows";
import { startRotation } from "../../../lib/orchestration/start";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { stackSuite, VAULT } from "../rotation/stack";
import { startHierarchyStack, undecryptable } from "./hierarchyFlowSupport";

const suite = stackSuite();

describe("an emergency that finds branch keys still under the compromised version after its replacement step", () => {
  it("fails with BranchKeysUnderCompromisedVersion instead of re-wrapping them under the new version, and revokes nothing", async () => {
    const h = await startHierarchyStack(suite, { tenants: ["t-a", "t-b"] });
    const before = await h.rt.store.all(h.kek.keyId);
    expect(before.every((r) => r.kekVersion === h.kek.v1)).toBe(true);

    const rotationId = `${h.kek.keyId}@emergency:leftover`;
    // The replacement step's run answers done without having replaced anything.
    const done: RunState = { runId: hierarchyRunId(rotationId, "emergency"), kind: "emergency", step: "done", done: true, counts: {}, plan: [] };
    await h.rt.store.saveRun(done.runId, done);

    const started = await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "emergency", actor: "olivia", mode: "emergency", revokeOld: true, compromisedVersion: h.kek.v1 });
    const out = (await h.s.host.client.waitForCompletion(started.instanceId, { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "failed", error: { code: "BranchKeysUnderCompromisedVersion" } });

    // Still under the compromised version (to be replaced by an emergency), never re-wrapped.
    const after = await h.rt.store.all(h.kek.keyId);
    expect(after.map((r) => `${r.branchId}#${r.version}@${r.kekVersion}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version}@${r.kekVersion}`).sort());
    const vault = await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name);
    expect(vault.find((v) => v.version === h.kek.v1)?.enabled).toBe(true);
    expect(await undecryptable(h)).toEqual([]);
  });
});
