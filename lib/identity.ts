// Which credential and transport options keyrotor uses for Key Vault, chosen from config. In Azure:
// DefaultAzureCredential (the app's managed identity). Locally: the Key Vault peer, which accepts any
// bearer token and serves a private CA's certificate.
import { readFileSync } from "node:fs";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import type { Config, VaultEndpoint } from "./config";
import { InvalidRequestError } from "./domain/errors";

/** Options every Key Vault SDK client (keys, secrets, cryptography) gets. */
export interface KeyVaultClientOptions {
  tlsOptions?: { ca: string };
  /** Only for the local peer: its challenge names a resource that is not *.vault.azure.net. */
  disableChallengeResourceVerification?: boolean;
  retryOptions?: { maxRetries?: number };
}

/** A token the local peer accepts; it is not a secret and grants nothing in Azure. */
export const localPeerCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "keyrotor-local-peer", expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

let defaultCredential: DefaultAzureCredential | undefined;
/** One credential per process: DefaultAzureCredential caches tokens, so sharing it saves token calls. */
export function keyVaultCredential(cfg: Pick<Config, "KEYROTOR_KEYVAULT_CREDENTIAL">): TokenCredential {
  if (cfg.KEYROTOR_KEYVAULT_CREDENTIAL === "local-peer") return localPeerCredential;
  defaultCredential ??= new DefaultAzureCredential();
  return defaultCredential;
}

const caCache = new Map<string, string>();
export function keyVaultClientOptions(cfg: Pick<Config, "KEYROTOR_KEYVAULT_CREDENTIAL" | "KEYROTOR_KEYVAULT_CA_FILE">): KeyVaultClientOptions {
  const options: KeyVaultClientOptions = {};
  const caFile = cfg.KEYROTOR_KEYVAULT_CA_FILE;
  if (caFile) {
    let ca = caCache.get(caFile);
    if (ca === undefined) {
      try {
        ca = readFileSync(caFile, "utf8");
      } catch (cause) {
        throw new InvalidRequestError("KeyVaultCaFileUnreadable", `[keyrotor] [identity] KEYROTOR_KEYVAULT_CA_FILE "${caFile}" cannot be read`, { cause });
      }
      caCache.set(caFile, ca);
    }
    options.tlsOptions = { ca };
  }
  if (cfg.KEYROTOR_KEYVAULT_CREDENTIAL === "local-peer") options.disableChallengeResourceVerification = true;
  return options;
}

/** The URL of a managed vault by its name (as in keyIds and Event Grid's VaultName). */
export function vaultUrlFor(cfg: Pick<Config, "KEYROTOR_VAULT_URLS">, vaultName: string): string {
  const found = cfg.KEYROTOR_VAULT_URLS.find((v: VaultEndpoint) => v.name.toLowerCase() === vaultName.toLowerCase());
  if (!found) {
    throw new InvalidRequestError("VaultUnknown", `[keyrotor] [identity] vault "${vaultName}" is not one of KEYROTOR_VAULT_URLS (${cfg.KEYROTOR_VAULT_URLS.map((v) => v.name).join(", ")})`, { field: "vault", status: 404 });
  }
  return found.url;
}
