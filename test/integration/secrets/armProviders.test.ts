// The Storage, Service Bus and Cosmos DB providers through the real @azure/arm-* clients against
// the ARM peer: each regenerates only the slot not in use, the old slot keeps authenticating
// through the overlap, and retirement ends it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArmPeer } from "../../../dev/peers/arm";
import { parseSecretProvider, type SecretProviderSpec, type SlotVersion } from "../../../lib/domain/secretProviders";
import { MemoryKeyVault } from "../../../lib/orchestration/memory";
import { connectionPart, cosmosDbKeyProvider, serviceBusSasProvider, storageAccountKeyProvider } from "../../../lib/secrets/arm";
import { DualCredentialRotation } from "../../../lib/secrets/dualCredential";
import { secretProviders } from "../../../lib/secrets/registry";
import { armConnection, resourceIds, RG, startArmWithResources, SUB } from "../../support/arm";

let peer: ArmPeer;
beforeAll(async () => {
  peer = await startArmWithResources();
});
afterAll(async () => {
  await peer?.stop();
});

const ref = { vault: "demo-vault", name: "conn" };

function rotationFor(kv: MemoryKeyVault): DualCredentialRotation {
  const c = armConnection(peer);
  return new DualCredentialRotation(
    {
      listSecretVersions: (v, n) => kv.listSecretVersions(v, n),
      setSecret: (v, n, value, o) => kv.setSecret(v, n, value, o),
      getSecretValue: async (v, n, version) => kv.secretValue(v, n, version) ?? "",
    },
    secretProviders({
      storageAccountKey: (s) => storageAccountKeyProvider(s, c),
      serviceBusSas: (s) => serviceBusSasProvider(s, c),
      cosmosDbKey: (s) => cosmosDbKeyProvider(s, c),
    }),
  );
}

const cases: { name: string; spec: SecretProviderSpec; resource: string; slots: [string, string]; peerSlots: [string, string]; keyPart: string }[] = [
  { name: "storage account keys", spec: parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" }), resource: resourceIds.storage, slots: ["key1", "key2"], peerSlots: ["key1", "key2"], keyPart: "AccountKey" },
  { name: "Service Bus namespace SAS keys", spec: parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: RG, namespace: "demo-bus", rule: "app-send" }), resource: resourceIds.serviceBus, slots: ["primary", "secondary"], peerSlots: ["PrimaryKey", "SecondaryKey"], keyPart: "SharedAccessKey" },
  { name: "Service Bus queue SAS keys", spec: parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: RG, namespace: "demo-bus", rule: "orders-listen", queue: "orders" }), resource: resourceIds.serviceBusQueue, slots: ["primary", "secondary"], peerSlots: ["PrimaryKey", "SecondaryKey"], keyPart: "SharedAccessKey" },
  { name: "Cosmos DB keys", spec: parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: RG, account: "demo-cosmos" }), resource: resourceIds.cosmos, slots: ["primary", "secondary"], peerSlots: ["primary", "secondary"], keyPart: "AccountKey" },
  { name: "Cosmos DB read-only keys", spec: parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: RG, account: "demo-cosmos", readOnly: true }), resource: resourceIds.cosmos, slots: ["primaryReadonly", "secondaryReadonly"], peerSlots: ["primaryReadonly", "secondaryReadonly"], keyPart: "AccountKey" },
];

describe.each(cases)("$name through the real ARM client", ({ spec, resource, slots, peerSlots, keyPart }) => {
  it("regenerates the slot not in use, keeps the one in use valid through the overlap, and retirement ends the old one", async () => {
    const kv = new MemoryKeyVault();
    const rotation = rotationFor(kv);
    const provider = secretProvidersFor(spec);
    const inUse = await provider.read(slots[0]);
    const v0 = (await kv.setSecret(ref.vault, ref.name, inUse, { rotationId: "registered", slot: slots[0] })).version;
    const firstKeyBefore = peer.key(resource, peerSlots[0]);
    const secondKeyBefore = peer.key(resource, peerSlots[1]);

    const prepared = await rotation.prepare(ref, spec, { rotationId: "r1", versions: [{ version: v0, slot: slots[0], state: "primary" }], primaryVersion: v0, emergency: false });
    const made = await rotation.create(ref, spec, { rotationId: "r1", prepared });
    expect(made.slot).toBe(slots[1]);
    expect(peer.key(resource, peerSlots[0])).toBe(firstKeyBefore);
    expect(peer.key(resource, peerSlots[1])).not.toBe(secondKeyBefore);
    const fresh = kv.secretValue(ref.vault, ref.name, made.version)!;
    expect(connectionPart(fresh, keyPart)).toBe(peer.key(resource, peerSlots[1]));
    await expect(rotation.test(ref, spec, made.version)).resolves.toEqual({ ok: true });
    expect(await provider.validate(inUse)).toEqual({ ok: true });

    const versions: SlotVersion[] = [{ version: v0, slot: slots[0], state: "secondary" }, { version: made.version, slot: slots[1], state: "primary" }];
    expect(await rotation.retire(spec, versions, v0)).toEqual({ slot: slots[0] });
    expect(await provider.validate(inUse)).toMatchObject({ ok: false });
    expect(await provider.validate(fresh)).toEqual({ ok: true });
  });
});

function secretProvidersFor(spec: SecretProviderSpec) {
  const c = armConnection(peer);
  const p = secretProviders({ storageAccountKey: (s) => storageAccountKeyProvider(s, c), serviceBusSas: (s) => serviceBusSasProvider(s, c), cosmosDbKey: (s) => cosmosDbKeyProvider(s, c) }).for(spec);
  if (p.issuer !== "provider") throw new Error("ARM providers issue their own keys");
  return p;
}

describe("ARM errors", () => {
  it("a resource the policy names but ARM does not have is a 404 InvalidRequestError, and nothing changes", async () => {
    const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "nosuchaccount" });
    await expect(secretProvidersFor(spec).read("key1")).rejects.toMatchObject({ family: "invalidRequest", status: 404, code: "ArmResourceNotFound" });
  });

  it("a token obtained for another resource is refused the way ARM refuses it", async () => {
    const wrongAudience = { async getToken() { return { token: `x.${Buffer.from(JSON.stringify({ aud: "https://vault.azure.net" })).toString("base64url")}.`, expiresOnTimestamp: Date.now() + 60_000 }; } };
    const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" });
    if (spec.kind !== "storageAccountKey") throw new Error("kind");
    const p = storageAccountKeyProvider(spec, { ...armConnection(peer), credential: wrongAudience });
    await expect(p.read("key1")).rejects.toMatchObject({ status: 403, code: "ArmInvalidAuthenticationTokenAudience" });
  });
});
