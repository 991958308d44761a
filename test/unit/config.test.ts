import { describe, expect, it } from "vitest";
import { loadConfig, ConfigError } from "../../lib/config";

const minimal = {
  KEYROTOR_TABLES_CONNECTION: "UseDevelopmentStorage=true",
  KEYROTOR_VAULT_URLS: "https://demo-vault.vault.azure.net",
  KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
};

describe("loadConfig", () => {
  it("applies the documented defaults to a minimal environment", () => {
    const c = loadConfig(minimal);
    expect(c.KEYROTOR_TABLE_LEDGER).toBe("rotationledger");
    expect(c.KEYROTOR_EVENTS_TOPIC).toBe("key-rotation-events");
    expect(c.KEYROTOR_VAULT_BUDGET_FRACTION).toBe(0.8);
    expect(c.KEYROTOR_VAULT_URLS).toEqual([{ name: "demo-vault", url: "https://demo-vault.vault.azure.net" }]);
  });

  it("accepts name=url vault entries for vaults behind other host names", () => {
    const c = loadConfig({ ...minimal, KEYROTOR_VAULT_URLS: "demo-vault=https://127.0.0.1:8443, other=https://127.0.0.1:8444" });
    expect(c.KEYROTOR_VAULT_URLS.map((v) => v.name)).toEqual(["demo-vault", "other"]);
    expect(() => loadConfig({ ...minimal, KEYROTOR_VAULT_URLS: "not a url" })).toThrow(/KEYROTOR_VAULT_URLS/);
  });

  it("names a missing vault list", () => {
    const { KEYROTOR_VAULT_URLS: _omit, ...env } = minimal;
    expect(() => loadConfig(env)).toThrow(/KEYROTOR_VAULT_URLS is missing/);
  });

  it("names the storage setting when neither URL nor connection string is given", () => {
    const { KEYROTOR_TABLES_CONNECTION: _omit, ...env } = minimal;
    expect(() => loadConfig(env)).toThrow(/KEYROTOR_TABLES_URL/);
  });

  it("names a bad value and says what it must be", () => {
    expect(() => loadConfig({ ...minimal, KEYROTOR_VAULT_BUDGET_FRACTION: "1.5" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...minimal, KEYROTOR_EMERGENCY_APPROVAL_WINDOW: "an hour" })).toThrow(
      /KEYROTOR_EMERGENCY_APPROVAL_WINDOW must be an ISO-8601 duration/,
    );
    expect(() => loadConfig({ ...minimal, KEYROTOR_TABLE_DEKS: "a-b" })).toThrow(/KEYROTOR_TABLE_DEKS/);
  });
});
