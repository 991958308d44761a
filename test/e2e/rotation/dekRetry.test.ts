// A DEK rotation whose first attempt recorded its intent under KEK v1 and then failed, while the KEK
// rotated to v2 and v1 was disabled, is retried by the orchestrator on the durable host (history in
// Azurite, the Key Vault peer): the DEK it promotes is wrapped under v2, never the v1 intent.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { describe, expect, it } from "vitest";
import { DependencyUnavailableError } from "../../../lib/domain/errors";
import { DURABLE } from "../../../lib/orchestration/names";
import type { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { keyClient } from "../../support/keyvault";
import { seedKekWithDeks, stackSuite, VAULT } from "./stack";

const suite = stackSuite();

describe("a retried DEK rotation on the durable host", () => {
  it("promotes a DEK wrapped under the KEK's new primary after its first attempt's intent was left under a version disabled since", async () => {
    const hook: { rotateKek?: () => Promise<string> } = {};
    let injected = 0;
    const s = await suite.start({
      wrapDeps: (deps) => {
        // The DEK table's promotion transaction: the first one fails after the intent was written.
        const store = (deps.deks as TableDekPort).store;
        const addPrimary = store.addPrimary.bind(store);
        store.addPrimary = async (...args) => {
          if (injected++ === 0) {
            // Between the first attempt's intent (under v1) and its promotion: the KEK rotates and
            // v1 is disabled in the vault; the attempt then fails as a dropped connection would.
            await hook.rotateKek!();
            throw new DependencyUnavailableError("tables", "[keyrotor] [test] injected: connection reset before the promotion");
          }
          return addPrimary(...args);
        };
      },
    });
    const seeded = await seedKekWithDeks(s, suite.peers, 1, 1, "retry-kek");
    await s.policies.put({ policyId: "tenant-deks", tenant: "tenant-0", kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
    hook.rotateKek = async () => {
      const kv = keyClient(suite.peers.vault);
      const v2 = (await kv.createRsaKey(seeded.name, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })).properties.version!;
      await kv.updateKeyProperties(seeded.name, seeded.v1, { enabled: false });
      const row = (await s.deps.inventory.get(seeded.keyId))!;
      await s.deps.inventory.put({
        ...row.key, primaryVersion: v2,
        versions: [...row.key.versions.map((v) => ({ ...v, state: "secondary" as const, demotedAt: new Date().toISOString() })), { version: v2, state: "primary", createdAt: new Date().toISOString() }],
      }, row.etag);
      return v2;
    };
    const rotationId = "dek:tenant-0@retry";
    await s.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input: { rotationId, keyId: "dek:tenant-0", trigger: "manual", actor: "alice" } });
    const out = (await s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output as RotationOutput;

    expect(injected).toBeGreaterThanOrEqual(2);
    expect(out).toMatchObject({ outcome: "completed", versionAfter: "v2" });
    const kek = (await s.deps.inventory.get(seeded.keyId))!.key;
    const primary = await s.dekStore.getPrimary("tenant-0");
    expect(primary).toMatchObject({ dekVersion: 2, state: "primary", kekVersion: kek.primaryVersion });
    expect(primary!.kekVersion).not.toBe(seeded.v1);
    const plain = await s.deps.vault.unwrapKey(VAULT, seeded.name, primary!.kekVersion, Buffer.from(primary!.wrapped, "base64url"));
    expect(plain).toHaveLength(32);
  });
});
