// The KEK rotation of a KEK with branch keys on the real Durable extension: keyrotor's rotation
// orchestrator calls the hierarchy's fenced activity (hierarchyKekRotation), which re-wraps the
// branch keys under the new version; DEK rows are untouched and every DEK decrypts through
// lib/envelope (the Key Vault peer, Azurite, the app's composition from settings). A standalone
// branch-key rotation (branchKeys, no new KEK version) runs on the same runtime.
import { afterAll, beforeAll, expect, it } from "vitest";
import { rotationClientOf } from "../../lib/api/http";
import { Envelope } from "../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../lib/hierarchy/deks";
import { hierarchyRuntimeFrom } from "../../lib/hierarchy/durableRuntime";
import { startRotation } from "../../lib/orchestration/start";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { tableClient } from "../../lib/stores/tables";
import { keyVaultsFor } from "../../lib/vault/keyVault";
import { ledgerEntries, seedVaultKey, VAULT } from "../e2e/rotation/stack";
import { keyClient } from "../support/keyvault";
import { describeRealRuntime, durableClient, reportSeconds, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

describeRealRuntime("KEK rotation with branch keys", () => {
  let app: RealApp;
  beforeAll(async () => {
    app = await startRealApp({ taskHub: "hierarchyhub", settings: { KEYROTOR_BRANCH_SIGNING_KEY_ID: `signing:${VAULT}/branch-signer`, KEYROTOR_BRANCH_KEYS_PER_KEK: "2" } });
    await keyClient(app.peers.vault).createRsaKey("branch-signer", { keySize: 2048, keyOps: ["sign", "verify"] });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  it("re-wraps only the branch keys under the new version: DEK rows untouched, every DEK decrypts, the ledger verifies", async () => {
    const t0 = Date.now();
    const rt = hierarchyRuntimeFrom(app.cfg, keyVaultsFor(app.cfg));
    const keys = rt.keys!;
    const { keyId, v1 } = await seedVaultKey(app.stack, app.peers, "kek", "hier-kek");
    const writer = new HierarchyDeks(keys, rt.deks);
    const env = new Envelope(new HierarchyDekResolver(rt.deks, keys, undefined, { primaryTtlMs: 0 }));
    const cts = new Map<string, string>();
    for (const tenant of ["t-a", "t-b", "t-c"]) {
      await writer.create({ tenant, dekVersion: 1, kekKeyId: keyId, kekVersion: v1 });
      cts.set(tenant, await env.encrypt(tenant, Buffer.from(`${tenant} data`)));
    }
    const rows = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const e of tableClient(app.cfg, "branchDeks").listEntities<{ wrapped?: string }>()) if (e.wrapped) out.push(`${e.partitionKey}/${e.rowKey}:${e.wrapped}`);
      return out.sort();
    };
    const before = await rows();
    const branches = (await keys.store.all(keyId)).length;

    const starter = rotationClientOf(durableClient(app.rt.client));
    const rotationId = `${keyId}@manual:hier1`;
    const started = await startRotation(starter, { rotationId, keyId, trigger: "manual", actor: "alice" });
    const end = await waitForEnd(durableClient(app.rt.client), started.instanceId, 240_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-6000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ "hierarchy.branchKeysRewrapped": branches });
    expect(await keys.store.countUnder(keyId, out.versionAfter!)).toBe(branches);
    expect(await rows()).toEqual(before);
    const fresh = new Envelope(new HierarchyDekResolver(rt.deks, keys, undefined));
    for (const [tenant, ct] of cts) expect((await fresh.decrypt(ct)).toString()).toBe(`${tenant} data`);
    const ids = (await ledgerEntries(app.stack, keyId)).map((e) => e.entryId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(`${rotationId}#hierarchy-kek-rotation:rewrapBranchKeys`);
    expect((await app.services.ledger.verify()).ok).toBe(true);
    reportSeconds("KEK rotation with branch keys", t0);
  }, 300_000);

  it("a standalone branch-key rotation (branchKeys: true) gives every branch key a new version under the KEK's current primary, re-wraps the DEKs, makes no KEK version, every DEK decrypts", async () => {
    const t0 = Date.now();
    const rt = hierarchyRuntimeFrom(app.cfg, keyVaultsFor(app.cfg));
    const keys = rt.keys!;
    const { keyId, v1 } = await seedVaultKey(app.stack, app.peers, "kek", "hier-kek-branch");
    const writer = new HierarchyDeks(keys, rt.deks);
    const env = new Envelope(new HierarchyDekResolver(rt.deks, keys, undefined, { primaryTtlMs: 0 }));
    const cts = new Map<string, string>();
    for (const tenant of ["b-a", "b-b", "b-c"]) {
      await writer.create({ tenant, dekVersion: 1, kekKeyId: keyId, kekVersion: v1 });
      cts.set(tenant, await env.encrypt(tenant, Buffer.from(`${tenant} data`)));
    }
    const before = await keys.store.all(keyId);
    const starter = rotationClientOf(durableClient(app.rt.client));
    const rotationId = `${keyId}@manual:branch1`;
    const started = await startRotation(starter, { rotationId, keyId, trigger: "manual", actor: "alice", branchKeys: true });
    const end = await waitForEnd(durableClient(app.rt.client), started.instanceId, 240_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-6000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.versionAfter).toBeUndefined();
    expect(out.counts).toMatchObject({ "hierarchy.branchKeysCreated": before.length, "hierarchy.dekRowsWritten": 3, "hierarchy.branchKeysDestroyed": before.length });
    const after = await keys.store.all(keyId);
    expect(after.map((r) => `${r.branchId}#${r.version}:${r.kekVersion}`).sort()).toEqual(before.map((r) => `${r.branchId}#${r.version + 1}:${v1}`).sort());
    expect((await app.stack.deps.vault.listKeyVersions(VAULT, "hier-kek-branch")).length).toBe(1);
    const fresh = new Envelope(new HierarchyDekResolver(rt.deks, keys, undefined));
    for (const [tenant, ct] of cts) expect((await fresh.decrypt(ct)).toString()).toBe(`${tenant} data`);
    expect((await app.services.ledger.verify()).ok).toBe(true);
    reportSeconds("standalone branch-key rotation", t0);
  }, 300_000);
});
