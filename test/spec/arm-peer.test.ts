// The ARM peer answers in the official ARM specifications' shapes: every answer the real
// @azure/arm-* clients got from it during a rotation (and the request bodies they sent) validates
// against the vendored spec definitions (test/fixtures/arm-specs, closed objects: an extra field
// fails too).
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArmPeer } from "../../dev/peers/arm";
import { parseSecretProvider, type ProviderSpecOf } from "../../lib/domain/secretProviders";
import { serviceBusSasProvider, storageAccountKeyProvider } from "../../lib/secrets/arm";
import { armConnection, RG, startArmWithResources, SUB } from "../support/arm";
import { describeErrors, SpecValidator } from "./specs";

const specs = path.resolve(__dirname, "..", "fixtures", "arm-specs");
const storageSpec = path.join(specs, "storage", "openapi.2026-06-01.definitions.json");
const serviceBusSpec = path.join(specs, "servicebus", "AuthorizationRules.2021-11-01.definitions.json");
const validator = new SpecValidator();

let peer: ArmPeer;
beforeAll(async () => {
  peer = await startArmWithResources();
});
afterAll(async () => {
  await peer?.stop();
});

function valid(file: string, definition: string, body: unknown): void {
  const v = validator.definition(file, definition);
  expect(v(body), `${definition}: ${describeErrors(v.errors)}`).toBe(true);
}

describe("ARM peer against the official ARM specifications", () => {
  it("Microsoft.Storage listKeys and regenerateKey answer StorageAccountListKeysResult", async () => {
    const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" }) as ProviderSpecOf<"storageAccountKey">;
    const p = storageAccountKeyProvider(spec, armConnection(peer));
    const from = peer.calls.length;
    await p.read("key1");
    await p.regenerate("key2");
    const calls = peer.calls.slice(from);
    expect(calls.map((c) => `${c.status} ${c.path.split("/").pop()}`)).toEqual(["200 listKeys", "200 regenerateKey"]);
    for (const c of calls) valid(storageSpec, "StorageAccountListKeysResult", c.responseBody);
    expect(calls[1]?.requestBody).toEqual({ keyName: "key2" });
  });

  it("Microsoft.ServiceBus listKeys and regenerateKeys answer AccessKeys; the client sends RegenerateAccessKeyParameters", async () => {
    for (const entity of [{}, { queue: "orders" }]) {
      const spec = parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: RG, namespace: "demo-bus", rule: "queue" in entity ? "orders-listen" : "app-send", ...entity }) as ProviderSpecOf<"serviceBusSas">;
      const p = serviceBusSasProvider(spec, armConnection(peer));
      const from = peer.calls.length;
      await p.read("primary");
      await p.regenerate("secondary");
      const calls = peer.calls.slice(from);
      expect(calls.map((c) => c.status)).toEqual([200, 200]);
      for (const c of calls) valid(serviceBusSpec, "AccessKeys", c.responseBody);
      valid(serviceBusSpec, "RegenerateAccessKeyParameters", calls[1]?.requestBody);
      expect(calls[1]?.requestBody).toEqual({ keyType: "SecondaryKey" });
    }
  });

  it("the validation can fail: the spelling real Azure sends (\"FULL\") and an undeclared field are caught", () => {
    const v = validator.definition(storageSpec, "StorageAccountListKeysResult");
    expect(v({ keys: [{ keyName: "key1", value: "x", permissions: "FULL" }] })).toBe(false);
    expect(v({ keys: [{ keyName: "key1", value: "x", permissions: "Full", extra: 1 }] })).toBe(false);
    expect(validator.definition(serviceBusSpec, "RegenerateAccessKeyParameters")({ keyType: "TertiaryKey" })).toBe(false);
  });
});
