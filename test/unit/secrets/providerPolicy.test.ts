// A policy names the provider of a secret (data, not code): accepted with its defaults, refused
// with the offending field named.
import { describe, expect, it } from "vitest";
import { validatePolicy } from "../../../lib/domain/policy";

const NOW = new Date("2026-11-22T12:00:00Z");
const base = { policyId: "orders-db", tenant: "contoso", kinds: ["secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P7D" };
const pg = { kind: "postgresPassword", host: "orders.postgres.database.azure.com", database: "orders", logins: ["app_a", "app_b"], adminConnectionSetting: "KEYROTOR_PG_ADMIN_ORDERS" };

describe("policy secret.provider", () => {
  it("accepts a provider and fills its defaults", () => {
    const p = validatePolicy({ ...base, secret: { provider: pg } }, { now: NOW });
    expect(p.secret?.provider).toMatchObject({ kind: "postgresPassword", port: 5432, sslmode: "require" });
  });

  it.each([
    [{ ...pg, password: "hunter2" }, "secret.provider.password"],
    [{ ...pg, logins: ["app_a"] }, "secret.provider.logins"],
    [{ kind: "storageAccountKey", subscriptionId: "x", resourceGroup: "rg", account: "acct1" }, "secret.provider.subscriptionId"],
  ])("refuses %j naming %s", (provider, field) => {
    expect(() => validatePolicy({ ...base, secret: { provider } }, { now: NOW })).toThrow(expect.objectContaining({ code: "PolicyInvalid", field }));
  });
});
