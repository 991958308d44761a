// The pure rules of provider secrets: the policy's provider data and the slot choice.
import { describe, expect, it } from "vitest";
import {
  claimSlot, isRolledBack, nextSlot, parseSecretProvider, postgresConnectionString, slotToRetire, slotsOf, storageConnectionString,
} from "../../../lib/domain/secretProviders";

const SUB = "00000000-0000-4000-8000-000000000001";

describe("parseSecretProvider", () => {
  it("accepts each provider kind and fills its defaults", () => {
    expect(parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg-1", account: "acct1" })).toMatchObject({ endpointSuffix: "core.windows.net" });
    expect(parseSecretProvider({ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: "rg", namespace: "orders-ns", rule: "send", queue: "q1" })).toMatchObject({ queue: "q1" });
    expect(parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: "rg", account: "cosmos-1" })).toMatchObject({ readOnly: false });
    expect(parseSecretProvider({ kind: "postgresPassword", host: "db.example.org", database: "orders", logins: ["app_a", "app_b"], adminConnectionSetting: "PG_ADMIN" }))
      .toMatchObject({ port: 5432, sslmode: "require" });
  });

  it.each([
    [{ kind: "ftpPassword" }, "secret.provider.kind"],
    [{ kind: "storageAccountKey", subscriptionId: "not-a-guid", resourceGroup: "rg", account: "acct1" }, "secret.provider.subscriptionId"],
    [{ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "Has-Caps" }, "secret.provider.account"],
    [{ kind: "serviceBusSas", subscriptionId: SUB, resourceGroup: "rg", namespace: "orders-ns", rule: "r", queue: "q", topic: "t" }, "secret.provider.topic"],
    [{ kind: "postgresPassword", host: "h", database: "d", logins: ["app", "app"], adminConnectionSetting: "PG_ADMIN" }, "secret.provider.logins"],
    [{ kind: "postgresPassword", host: "h", database: "d", logins: ["a", "b"], adminConnectionSetting: "postgres://admin:pw@h/d" }, "secret.provider.adminConnectionSetting"],
    [{ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "acct1", accountKey: "x" }, "secret.provider.accountKey"],
  ])("refuses %j naming %s", (input, field) => {
    expect(() => parseSecretProvider(input)).toThrow(expect.objectContaining({ code: "PolicyInvalid", field }));
  });
});

describe("slots", () => {
  const storage = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "acct1" });
  const cosmosRo = parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: "rg", account: "cosmos-1", readOnly: true });
  it("names each provider's pair in its own words", () => {
    expect(slotsOf(storage)).toEqual(["key1", "key2"]);
    expect(slotsOf(cosmosRo)).toEqual(["primaryReadonly", "secondaryReadonly"]);
  });
  it("regenerates the slot not in use; an untagged secret is taken to use the first slot", () => {
    expect(nextSlot(storage, undefined)).toBe("key2");
    expect(nextSlot(storage, "key1")).toBe("key2");
    expect(nextSlot(storage, "key2")).toBe("key1");
  });
  it("refuses a slot tag the provider does not have instead of guessing", () => {
    expect(() => nextSlot(storage, "primary")).toThrow(expect.objectContaining({ code: "SlotUnknown" }));
  });
  it("a slot backing a secondary version in its overlap is not free outside an emergency", () => {
    const versions = [{ version: "v1", slot: "key2", state: "secondary" as const, createdAt: "2026-01-01T00:00:00Z" }, { version: "v2", slot: "key1", state: "primary" as const, createdAt: "2026-02-01T00:00:00Z" }];
    expect(() => claimSlot(versions, "key2", false)).toThrow(expect.objectContaining({ code: "SlotInOverlap", status: 409 }));
    expect(claimSlot(versions, "key2", true)).toEqual({ retireFirst: [] });
    expect(claimSlot([{ version: "v1", slot: "key2", state: "retired" }], "key2", false)).toEqual({ retireFirst: [] });
  });
  it("the untagged (registered) version holds the first slot: in its overlap it blocks that slot too", () => {
    const versions = [{ version: "v0", state: "secondary" as const, createdAt: "2026-01-01T00:00:00Z" }, { version: "v1", slot: "key2", state: "primary" as const, createdAt: "2026-02-01T00:00:00Z" }];
    expect(() => claimSlot(versions, "key1", false, "key1")).toThrow(expect.objectContaining({ code: "SlotInOverlap" }));
  });
  it("a rolled-back version inside its overlap blocks its slot like any other: one person rolled back, nobody ends it alone before the overlap is over", () => {
    const versions = [{ version: "v1", slot: "key1", state: "primary" as const, createdAt: "2026-01-01T00:00:00Z" }, { version: "v2", slot: "key2", state: "secondary" as const, createdAt: "2026-02-01T00:00:00Z" }];
    expect(isRolledBack(versions[1]!, versions[0])).toBe(true);
    expect(isRolledBack(versions[0]!, versions[0])).toBe(false);
    expect(() => claimSlot(versions, "key2", false)).toThrow(expect.objectContaining({ code: "SlotInOverlap", status: 409, message: expect.stringContaining("rolled-back version v2") }));
    // Two people (an emergency) may end it now; the rotation records its retirement first.
    expect(claimSlot(versions, "key2", true)).toEqual({ retireFirst: ["v2"] });
  });
  it("a holder whose overlap is over is retired first by the rotation, rolled back or not", () => {
    const rolledBack = [{ version: "v1", slot: "key1", state: "primary" as const, createdAt: "2026-01-01T00:00:00Z" }, { version: "v2", slot: "key2", state: "secondary" as const, createdAt: "2026-02-01T00:00:00Z" }];
    expect(claimSlot(rolledBack, "key2", false, undefined, new Set(["v2"]))).toEqual({ retireFirst: ["v2"] });
    const ordinary = [{ version: "v1", slot: "key2", state: "secondary" as const, createdAt: "2026-01-01T00:00:00Z" }, { version: "v2", slot: "key1", state: "primary" as const, createdAt: "2026-02-01T00:00:00Z" }];
    expect(claimSlot(ordinary, "key2", false, undefined, new Set(["v1"]))).toEqual({ retireFirst: ["v1"] });
    expect(claimSlot(ordinary, "key2", true)).toEqual({ retireFirst: [] });
  });
  it("retires a slot only when no live version shares it", () => {
    expect(slotToRetire([{ version: "v1", slot: "key1", state: "secondary" }, { version: "v2", slot: "key2", state: "primary" }], "v1")).toBe("key1");
    expect(slotToRetire([{ version: "v1", slot: "key1", state: "secondary" }, { version: "v2", slot: "key1", state: "primary" }], "v1")).toBeUndefined();
    expect(slotToRetire([{ version: "v1", state: "secondary" }], "v1")).toBeUndefined();
    expect(slotToRetire([{ version: "v1", state: "secondary" }, { version: "v2", slot: "key2", state: "primary" }], "v1", "key1")).toBe("key1");
    expect(slotToRetire([{ version: "v1", state: "secondary" }, { version: "v2", slot: "key1", state: "primary" }], "v1", "key1")).toBeUndefined();
  });
});

describe("connection strings", () => {
  it("a PostgreSQL URI escapes the password and carries sslmode", () => {
    const spec = parseSecretProvider({ kind: "postgresPassword", host: "127.0.0.1", port: 6543, database: "orders", logins: ["app_a", "app_b"], adminConnectionSetting: "PG_ADMIN", sslmode: "disable" });
    if (spec.kind !== "postgresPassword") throw new Error("kind");
    const s = postgresConnectionString(spec, "app_b", "p@ss/w:rd");
    expect(s).toBe("postgresql://app_b:p%40ss%2Fw%3Ard@127.0.0.1:6543/orders?sslmode=disable");
    expect(decodeURIComponent(new URL(s).password)).toBe("p@ss/w:rd");
  });
  it("a storage connection string names the account, key and endpoint suffix", () => {
    const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: "rg", account: "acct1" });
    if (spec.kind !== "storageAccountKey") throw new Error("kind");
    expect(storageConnectionString(spec, "K==")).toBe("DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=K==;EndpointSuffix=core.windows.net");
  });
});
