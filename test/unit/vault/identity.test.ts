import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { loadConfig } from "../../../lib/config";
import { keyVaultClientOptions, keyVaultCredential, localPeerCredential, vaultUrlFor } from "../../../lib/identity";

const base = {
  KEYROTOR_TABLES_CONNECTION: "UseDevelopmentStorage=true",
  KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
  KEYROTOR_VAULT_URLS: "demo-vault=https://127.0.0.1:8443,https://prodvault.vault.azure.net",
};

describe("Key Vault identity from config", () => {
  it("uses DefaultAzureCredential and full challenge verification by default", () => {
    const cfg = loadConfig(base);
    expect(cfg.KEYROTOR_KEYVAULT_CREDENTIAL).toBe("default");
    expect(keyVaultCredential(cfg)).toBeInstanceOf(DefaultAzureCredential);
    expect(keyVaultClientOptions(cfg)).toEqual({});
  });

  it("uses the local peer's fixed token, its CA file and no resource check when told to", () => {
    const dir = mkdtempSync(join(tmpdir(), "kr-ca-"));
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const cfg = loadConfig({ ...base, KEYROTOR_KEYVAULT_CREDENTIAL: "local-peer", KEYROTOR_KEYVAULT_CA_FILE: caFile });
    expect(keyVaultCredential(cfg)).toBe(localPeerCredential);
    expect(keyVaultClientOptions(cfg)).toEqual({ tlsOptions: { ca: expect.stringContaining("BEGIN CERTIFICATE") }, disableChallengeResourceVerification: true });
  });

  it("names the setting when the credential choice is wrong, and the file when the CA cannot be read", () => {
    expect(() => loadConfig({ ...base, KEYROTOR_KEYVAULT_CREDENTIAL: "anonymous" })).toThrow(/KEYROTOR_KEYVAULT_CREDENTIAL/);
    const cfg = loadConfig({ ...base, KEYROTOR_KEYVAULT_CA_FILE: "/nonexistent/ca.pem" });
    expect(() => keyVaultClientOptions(cfg)).toThrow(/KEYROTOR_KEYVAULT_CA_FILE "\/nonexistent\/ca.pem"/);
  });

  it("finds a vault's URL by its name, case-insensitively, and refuses unknown vaults", () => {
    const cfg = loadConfig(base);
    expect(vaultUrlFor(cfg, "demo-vault")).toBe("https://127.0.0.1:8443");
    expect(vaultUrlFor(cfg, "ProdVault")).toBe("https://prodvault.vault.azure.net");
    expect(() => vaultUrlFor(cfg, "elsewhere")).toThrow(/not one of KEYROTOR_VAULT_URLS/);
  });
});
