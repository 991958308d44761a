// Provider secrets end to end on the local host: the durable host with history in Azurite, the Key
// Vault and Service Bus peers, the ARM peer driven by the real @azure/arm-* clients and a real
// PostgreSQL. Each provider kind rotates, rolls back and retires, with ledger entries and events,
// and no credential in history, logs, events or the ledger.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../dev/host";
import type { ArmPeer } from "../../../dev/peers/arm";
import { parseSecretProvider, type SecretProviderInput } from "../../../lib/domain/secretProviders";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { cosmosDbKeyProvider, serviceBusSasProvider, storageAccountKeyProvider } from "../../../lib/secrets/arm";
import { withSecretProviders } from "../../../lib/secrets/compose";
import { postgresProvider } from "../../../lib/secrets/postgres";
import { secretProviders } from "../../../lib/secrets/registry";
import { armConnection, RG, startArmWithResources, SUB } from "../../support/arm";
import { secretClient } from "../../support/keyvault";
import { loginResult, startAlternatingLogins, type AlternatingLogins } from "../../support/postgres";
import { drainEvents, historyText, ledgerEntries, register, stackSuite, TENANT, VAULT, type Stack } from "../rotation/stack";

const suite = stackSuite();
let arm: ArmPeer;
let db: AlternatingLogins;
const settings = new Map<string, string>();

beforeAll(async () => {
  arm = await startArmWithResources();
  db = await startAlternatingLogins();
  settings.set("KEYROTOR_PG_ADMIN_ORDERS", db.adminUrl);
}, 120_000);
afterAll(async () => {
  await arm?.stop();
  await db?.server.stop();
});

function start(clock: ManualClock): Promise<Stack> {
  return suite.start({
    clock,
    wrapDeps: (d) => {
      const c = armConnection(arm);
      d.validateAtProvider = undefined; // the settings' ARM endpoint is Azure's; these tests use the peer
      withSecretProviders(d, secretProviders({
        storageAccountKey: (s) => storageAccountKeyProvider(s, c),
        serviceBusSas: (s) => serviceBusSasProvider(s, c),
        cosmosDbKey: (s) => cosmosDbKeyProvider(s, c),
        postgresPassword: (s) => postgresProvider(s, { setting: (n) => settings.get(n) }),
      }));
    },
  });
}

async function run(s: Stack, orchestrator: string, input: Record<string, unknown> & { rotationId: string; keyId: string }): Promise<RotationOutput> {
  await s.host.client.startNew(orchestrator, { instanceId: instanceIdFor(input.rotationId), input: { trigger: "manual", actor: "alice", reason: "provider rotation test", ...input } });
  return (await s.host.client.waitForCompletion(instanceIdFor(input.rotationId), { timeoutMs: 60_000 })).output as RotationOutput;
}

/** A policy for one provider secret and the secret itself, holding the first slot's credential. */
async function providerSecret(s: Stack, name: string, provider: SecretProviderInput, initial: string): Promise<{ keyId: string; v1: string }> {
  await s.policies.put({ policyId: `${name}-policy`, tenant: TENANT, kinds: ["secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D", secret: { provider } }, undefined);
  const first = await secretClient(suite.peers.vault).setSecret(name, initial);
  const keyId = `secret:${VAULT}/${name}`;
  await register(s, { keyId, kind: "secret", tenant: TENANT, policyId: `${name}-policy`, primaryVersion: first.properties.version!, versions: [{ version: first.properties.version!, state: "primary", createdAt: "2026-01-01T00:00:00.000Z" }] });
  return { keyId, v1: first.properties.version! };
}

const arms: { name: string; provider: SecretProviderInput; first: string; resource: string; peerSecond: string }[] = [
  { name: "storage-conn", provider: { kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" }, first: "key1", resource: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/demostore`, peerSecond: "key2" },
  { name: "bus-conn", provider: { kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: RG, namespace: "demo-bus", rule: "app-send" }, first: "primary", resource: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/demo-bus/authorizationRules/app-send`, peerSecond: "SecondaryKey" },
  { name: "cosmos-conn", provider: { kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: RG, account: "demo-cosmos" }, first: "primary", resource: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DocumentDB/databaseAccounts/demo-cosmos`, peerSecond: "secondary" },
];

describe("provider secrets on the local host", () => {
  it.each(arms)("$provider.kind: rotates into the second slot, rolls back to the first, and retirement ends the rolled-back slot, with ledger entries and events", async ({ name, provider, first, resource, peerSecond }) => {
    const clock = new ManualClock(new Date().toISOString());
    const s = await start(clock);
    const spec = parseSecretProvider(provider);
    const p = secretProviders({ storageAccountKey: (x) => storageAccountKeyProvider(x, armConnection(arm)), serviceBusSas: (x) => serviceBusSasProvider(x, armConnection(arm)), cosmosDbKey: (x) => cosmosDbKeyProvider(x, armConnection(arm)) }).for(spec);
    if (p.issuer !== "provider") throw new Error("ARM providers issue their keys");
    const initial = await p.read(first);
    const { keyId, v1 } = await providerSecret(s, name, provider, initial);

    const rotated = await run(s, DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:1`, keyId });
    expect(rotated, JSON.stringify(rotated)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    const fresh = (await secretClient(suite.peers.vault).getSecret(name, { version: rotated.versionAfter! })).value!;
    expect(fresh).toContain(arm.key(resource, peerSecond)!);
    expect(await p.validate(initial)).toEqual({ ok: true }); // the overlap: the old slot still works

    const back = await run(s, DURABLE.orchestrators.rollback, { rotationId: `${keyId}@rollback:1`, keyId, rollbackTo: v1, rollbackFrom: rotated.versionAfter });
    expect(back, JSON.stringify(back)).toMatchObject({ outcome: "completed", versionAfter: v1 });
    expect(await p.validate(initial)).toEqual({ ok: true });
    expect(await p.validate(fresh)).toEqual({ ok: true }); // rolled back, not ended: still inside its overlap

    // Past the overlap, retirement ends the rolled-back version's slot at the provider.
    clock.advance(8 * 86_400_000);
    const retired = await run(s, DURABLE.orchestrators.retirement, { rotationId: `${keyId}@retire:1`, keyId, trigger: "schedule", actor: "system:timer" });
    expect(retired, JSON.stringify(retired)).toMatchObject({ outcome: "completed", counts: { retired: 1 } });
    expect(await p.validate(fresh)).toMatchObject({ ok: false });
    expect(await p.validate(initial)).toEqual({ ok: true });
    await expect(secretClient(suite.peers.vault).getSecret(name, { version: rotated.versionAfter! })).rejects.toThrow(/disabled/);

    const types = (await ledgerEntries(s, keyId)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["VersionCreated", "Validation", "Promoted", "RolledBack", "Retired", "Completed"]));
    const events = await drainEvents(s);
    expect(events.length).toBeGreaterThan(3);
    const haystack = [await historyText(s), s.logs.join("\n"), JSON.stringify(events), JSON.stringify(await ledgerEntries(s, keyId))].join("\n");
    expect(haystack).not.toContain(initial);
    expect(haystack).not.toContain(fresh);
  }, 120_000);

  it("postgresPassword: rotates to the other login; the old connection string works through the overlap and fails after the retirement", async () => {
    const clock = new ManualClock(new Date().toISOString());
    const s = await start(clock);
    const provider: SecretProviderInput = { kind: "postgresPassword", host: "127.0.0.1", port: db.server.port, database: db.database, logins: ["app_a", "app_b"], adminConnectionSetting: "KEYROTOR_PG_ADMIN_ORDERS", sslmode: "disable" };
    const { keyId, v1 } = await providerSecret(s, "orders-db", provider, db.initialUrl);
    const rotated = await run(s, DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:1`, keyId });
    expect(rotated, JSON.stringify(rotated)).toMatchObject({ outcome: "completed", versionBefore: v1 });
    const fresh = (await secretClient(suite.peers.vault).getSecret("orders-db", { version: rotated.versionAfter! })).value!;
    expect(new URL(fresh).username).toBe("app_b");
    expect(await loginResult(fresh)).toBe("ok");
    expect(await loginResult(db.initialUrl)).toBe("ok");

    // Retirement after the overlap: the retirement workflow finds v1 past its 7-day overlap.
    clock.advance(8 * 86_400_000);
    const retired = await run(s, DURABLE.orchestrators.retirement, { rotationId: `${keyId}@retire:1`, keyId, trigger: "schedule", actor: "system:timer" });
    expect(retired, JSON.stringify(retired)).toMatchObject({ outcome: "completed", counts: { retired: 1 } });
    expect(await loginResult(db.initialUrl)).toMatch(/^28(P01|000)$/);
    expect((await ledgerEntries(s, keyId)).some((e) => e.type === "Retired")).toBe(true);
    expect(await loginResult(fresh)).toBe("ok");
  }, 120_000);
});
