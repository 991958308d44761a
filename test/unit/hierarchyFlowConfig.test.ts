// The key hierarchy's settings (lib/config.ts): defaults, and a clear error naming the setting for
// each bad value, before anything starts.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../lib/config";
import { tableNameFor } from "../../lib/stores/tables";

const minimal = {
  KEYROTOR_TABLES_CONNECTION: "UseDevelopmentStorage=true",
  KEYROTOR_VAULT_URLS: "https://demo-vault.vault.azure.net",
  KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
};

describe("the key hierarchy's settings", () => {
  it("default to tables branchkeys and branchdeks, 256 shared branch keys per KEK, slices of 120 s and no signing key", () => {
    const c = loadConfig(minimal);
    expect([tableNameFor(c, "branchKeys"), tableNameFor(c, "branchDeks")]).toEqual(["branchkeys", "branchdeks"]);
    expect(c.KEYROTOR_BRANCH_KEYS_PER_KEK).toBe(256);
    expect(c.KEYROTOR_HIERARCHY_SLICE_SECONDS).toBe(120);
    expect(c.KEYROTOR_BRANCH_SIGNING_KEY_ID).toBeUndefined();
    // Bicep passes an empty string for "not set".
    expect(loadConfig({ ...minimal, KEYROTOR_BRANCH_SIGNING_KEY_ID: "" }).KEYROTOR_BRANCH_SIGNING_KEY_ID).toBeUndefined();
  });

  it("accept a signing key of a configured vault", () => {
    const c = loadConfig({ ...minimal, KEYROTOR_BRANCH_SIGNING_KEY_ID: "signing:demo-vault/branch-signer", KEYROTOR_BRANCH_KEYS_PER_KEK: "16", KEYROTOR_TABLE_BRANCH_KEYS: "bk1", KEYROTOR_TABLE_BRANCH_DEKS: "bd1" });
    expect(c.KEYROTOR_BRANCH_SIGNING_KEY_ID).toBe("signing:demo-vault/branch-signer");
    expect(c.KEYROTOR_BRANCH_KEYS_PER_KEK).toBe(16);
    expect([tableNameFor(c, "branchKeys"), tableNameFor(c, "branchDeks")]).toEqual(["bk1", "bd1"]);
  });

  it("refuse a signing key id that is not signing:<vault>/<key>, naming the setting", () => {
    for (const bad of ["kek:demo-vault/branch-signer", "signing:demo-vault", "https://demo-vault.vault.azure.net/keys/branch-signer", "signing:demo-vault/a/b"]) {
      expect(() => loadConfig({ ...minimal, KEYROTOR_BRANCH_SIGNING_KEY_ID: bad })).toThrow(/KEYROTOR_BRANCH_SIGNING_KEY_ID must be signing:<vault>\/<key>/);
    }
  });

  it("refuse a signing key in a vault keyrotor does not reach", () => {
    expect(() => loadConfig({ ...minimal, KEYROTOR_BRANCH_SIGNING_KEY_ID: "signing:other-vault/branch-signer" })).toThrow(/KEYROTOR_BRANCH_SIGNING_KEY_ID names a vault that is not in KEYROTOR_VAULT_URLS/);
  });

  it("refuse a shared branch-key count outside 1-65536, a slice outside 1-300 s and a bad table name", () => {
    for (const n of ["0", "65537", "1.5", "many"]) expect(() => loadConfig({ ...minimal, KEYROTOR_BRANCH_KEYS_PER_KEK: n })).toThrow(/KEYROTOR_BRANCH_KEYS_PER_KEK/);
    for (const n of ["0", "301"]) expect(() => loadConfig({ ...minimal, KEYROTOR_HIERARCHY_SLICE_SECONDS: n })).toThrow(/KEYROTOR_HIERARCHY_SLICE_SECONDS/);
    expect(() => loadConfig({ ...minimal, KEYROTOR_TABLE_BRANCH_DEKS: "branch-deks" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...minimal, KEYROTOR_TABLE_BRANCH_KEYS: "b" })).toThrow(/KEYROTOR_TABLE_BRANCH_KEYS/);
  });
});
