// In a sovereign cloud the ARM providers (Cosmos DB's among them) must ask the identity for a token
// for that cloud's Resource Manager, whose endpoint infra sets (environment().resourceManager):
// a token for management.azure.com is refused there. Any other endpoint (the local ARM peer) keeps
// the public audience. The credential here records the scope and refuses, so nothing is sent.
import type { TokenCredential } from "@azure/core-auth";
import { describe, expect, it } from "vitest";
import { parseSecretProvider, type ProviderSpecOf } from "../../../lib/domain/secretProviders";
import { cosmosDbKeyProvider, serviceBusSasProvider, storageAccountKeyProvider, type ArmConnection } from "../../../lib/secrets/arm";

const SUB = "00000000-0000-4000-8000-00000000a12e";

function recordingCredential(): { credential: TokenCredential; scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    credential: {
      getToken(s: string | string[]) {
        scopes.push(...(Array.isArray(s) ? s : [s]));
        return Promise.reject(new Error("this test hands out no token"));
      },
    },
  };
}

const cosmos = parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: "rg", account: "gov-cosmos" }) as ProviderSpecOf<"cosmosDbKey">;
const storage = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "govstore", endpointSuffix: "core.usgovcloudapi.net" }) as ProviderSpecOf<"storageAccountKey">;
const bus = parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: "rg", namespace: "gov-bus", rule: "send" }) as ProviderSpecOf<"serviceBusSas">;

async function scopeAsked(endpoint: string | undefined, kind: "cosmos" | "storage" | "bus" = "cosmos"): Promise<string[]> {
  const { credential, scopes } = recordingCredential();
  const c: ArmConnection = { credential, ...(endpoint ? { endpoint } : {}) };
  const p = kind === "cosmos" ? cosmosDbKeyProvider(cosmos, c) : kind === "storage" ? storageAccountKeyProvider(storage, c) : serviceBusSasProvider(bus, c);
  await expect(p.read(kind === "storage" ? "key1" : "primary")).rejects.toThrow(/no token/);
  return [...new Set(scopes)];
}

describe("ARM token scope follows the cloud of the ARM endpoint", () => {
  it.each([
    ["https://management.usgovcloudapi.net/", "https://management.usgovcloudapi.net/.default"],
    ["https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net/.default"],
    ["https://management.chinacloudapi.cn/", "https://management.chinacloudapi.cn/.default"],
    ["https://management.azure.com/", "https://management.azure.com/.default"],
  ])("the Cosmos DB provider with ARM endpoint %s asks for %s", async (endpoint, scope) => {
    expect(await scopeAsked(endpoint)).toEqual([scope]);
  });

  it("no endpoint (public cloud) and any other endpoint (the local ARM peer) ask for the public cloud's scope", async () => {
    expect(await scopeAsked(undefined)).toEqual(["https://management.azure.com/.default"]);
    expect(await scopeAsked("https://127.0.0.1:7443")).toEqual(["https://management.azure.com/.default"]);
  });

  it("the Storage and Service Bus providers share it (the classic Service Bus client too)", async () => {
    expect(await scopeAsked("https://management.usgovcloudapi.net/", "storage")).toEqual(["https://management.usgovcloudapi.net/.default"]);
    expect(await scopeAsked("https://management.usgovcloudapi.net/", "bus")).toEqual(["https://management.usgovcloudapi.net/.default"]);
  });
});
