// Event Grid gives a webhook about 30 s and the timer runs under functionTimeout: neither may wait
// for a rotation's lock decision (up to 30 s per start before). They start the orchestration and
// answer; the orchestration records its own outcome (refused, with the holder, in its output).
import { describe, expect, it } from "vitest";
import { handleKeyVaultEvent } from "../../../lib/api/keyVaultEvents";
import type { RotationClient } from "../../../lib/api/ports";
import { memoryApiServices } from "../../../lib/api/services";
import { runPolicyTimer } from "../../../lib/api/timer";

const NOW = new Date("2026-03-01T00:00:00Z");
const DAY = 86_400_000;
const VAULT = "demo-vault";

/** A durable client whose orchestrations start and then never reach a lock decision. */
class UndecidedClient {
  readonly started: string[] = [];
  startNew(_name: string, o: { instanceId: string }): Promise<string> {
    this.started.push(o.instanceId);
    return Promise.resolve(o.instanceId);
  }
  getStatus(instanceId: string): Promise<{ runtimeStatus: string; customStatus: unknown } | undefined> {
    return Promise.resolve(this.started.includes(instanceId) ? { runtimeStatus: "Running", customStatus: { lock: "pending" } } : undefined);
  }
}

const asClient = (c: UndecidedClient): RotationClient => c;

describe("starting a rotation from Event Grid or the timer does not wait for the lock decision", () => {
  it("answers a KeyNearExpiry event at once with the rotation started", async () => {
    const api = memoryApiServices({ clock: { now: () => NOW }, vaults: [VAULT] });
    const v1 = api.rotation.vault.seedKey(VAULT, "tenant-kek", "wrap");
    await api.rotation.inventory.put({ keyId: `kek:${VAULT}/tenant-kek`, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: NOW.toISOString() }] }, undefined);
    const client = new UndecidedClient();
    const event = {
      id: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64", topic: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${VAULT}`, subject: "tenant-kek",
      eventType: "Microsoft.KeyVault.KeyNearExpiry", eventTime: "2026-02-28T01:08:33.1036736Z", dataVersion: "1", metadataVersion: "1",
      data: { Id: `https://${VAULT}.vault.azure.net/keys/tenant-kek/${v1}`, VaultName: VAULT, ObjectType: "Key", ObjectName: "tenant-kek", Version: v1, NBF: "1559081980", EXP: "1559082102" },
    };
    const t0 = Date.now();
    const out = await handleKeyVaultEvent(api.services, asClient(client), event);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(out).toMatchObject({ outcome: "rotationStarted" });
    expect(client.started).toHaveLength(1);
  }, 15_000);

  it("starts every due rotation of a timer run without waiting on any of them", async () => {
    const api = memoryApiServices({ clock: { now: () => NOW }, vaults: [VAULT] });
    await api.policies.put({ policyId: "kek-quarterly", tenant: "platform", kinds: ["kek"], schedule: { every: "P90D" }, expiresAfter: "P200D" }, undefined);
    for (let i = 0; i < 6; i++) {
      const name = `kek-${i}`;
      const v1 = api.rotation.vault.seedKey(VAULT, name, "wrap");
      await api.rotation.inventory.put({
        keyId: `kek:${VAULT}/${name}`, kind: "kek", tenant: "platform", policyId: "kek-quarterly", primaryVersion: v1,
        versions: [{ version: v1, state: "primary", createdAt: new Date(NOW.getTime() - 100 * DAY).toISOString() }], lastRotatedAt: new Date(NOW.getTime() - 100 * DAY).toISOString(),
      }, undefined);
    }
    const client = new UndecidedClient();
    const t0 = Date.now();
    const report = await runPolicyTimer(api.services, asClient(client), { log: () => {} });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(report.failures).toEqual([]);
    expect(report.started).toHaveLength(6);
  }, 20_000);
});
