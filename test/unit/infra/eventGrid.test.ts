import { describe, expect, it } from "vitest";
import { HANDLED_KEYVAULT_EVENT_TYPES } from "../../../lib/domain/keyVaultEventTypes";
import { blockAfter, moduleCalls, read, stringItems } from "./bicep";

const sub = read("infra/modules/eventSubscription.bicep");

describe("the Event Grid subscription to keyVaultEvents", () => {
  it("filters to exactly the event types the function handles, nothing else", () => {
    const filter = stringItems(blockAfter(sub, "includedEventTypes:"));
    expect(new Set(filter).size).toBe(filter.length);
    expect([...filter].sort()).toEqual([...HANDLED_KEYVAULT_EVENT_TYPES].sort());
  });

  it("delivers to the keyVaultEvents function's Event Grid webhook", () => {
    expect(read("infra/eventSubscriptions.bicep")).toMatch(/\/runtime\/webhooks\/eventgrid\?functionName=keyVaultEvents&code=\$\{listKeys\(/);
    expect(sub).toMatch(/endpointType:\s*'WebHook'/);
  });

  it("retries, then dead-letters to the blob container with Event Grid's own identity", () => {
    const retry = blockAfter(sub, "retryPolicy:");
    expect(retry).toMatch(/maxDeliveryAttempts:\s*\d+/);
    expect(retry).toMatch(/eventTimeToLiveInMinutes:\s*\d+/);
    const dl = blockAfter(sub, "deadLetterWithResourceIdentity:");
    expect(dl).toMatch(/endpointType:\s*'StorageBlob'/);
    expect(dl).toMatch(/type:\s*'UserAssigned'/);
    const storage = read("infra/modules/hostStorage.bicep");
    expect(storage).toMatch(/deadLetterContainerName = 'eventgrid-deadletter'/);
  });

  it("has one system topic per managed vault, with the identity that may write dead letters", () => {
    // vaultAccess.bicep (one per vault) declares the topic through vaultSystemTopic.bicep.
    const topic = read("infra/modules/vaultSystemTopic.bicep");
    expect(topic).toMatch(/topicType:\s*'Microsoft\.KeyVault\.vaults'/);
    expect(topic).toMatch(/userAssignedIdentities:\s*\{\s*'\$\{eventGridIdentityId\}'/);
    expect(moduleCalls("infra/modules/vaultAccess.bicep").find((c) => c.file === "infra/modules/vaultSystemTopic.bicep")?.params).toContain("eventGridIdentityId");
    const call = moduleCalls("infra/main.bicep").find((c) => c.symbol === "vaultAccess");
    expect(read("infra/main.bicep")).toMatch(/module vaultAccess '[^']+' = \[for \(v, i\) in managedVaults:/);
    expect(call?.params).toContain("eventGridIdentityId");
  });
});
