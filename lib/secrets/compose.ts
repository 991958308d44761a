// The secret providers a deployment has, built once from its settings: ARM providers with the
// app's identity (or the local ARM peer's token and CA), PostgreSQL with the admin connection
// string the policy's app setting names. Which one a secret uses is the policy's choice (data).
import { readFileSync } from "node:fs";
import { DefaultAzureCredential } from "@azure/identity";
import type { TokenCredential } from "@azure/core-auth";
import type { Config } from "../config";
import { InvalidRequestError, InvariantViolationError } from "../domain/errors";
import type { ManagedKey } from "../domain/keys";
import type { SecretProviderSpec } from "../domain/secretProviders";
import type { RotationDeps } from "../orchestration/ports";
import type { ProviderCheck } from "../validation/ports";
import { cosmosDbKeyProvider, localArmPeerCredential, serviceBusSasProvider, storageAccountKeyProvider, type ArmConnection } from "./arm";
import type { SecretProviders } from "./port";
import { postgresProvider } from "./postgres";
import { secretProviders } from "./registry";

type ArmSettings = Pick<Config, "KEYROTOR_ARM_ENDPOINT" | "KEYROTOR_ARM_CA_FILE" | "KEYROTOR_ARM_CREDENTIAL">;

let defaultCredential: TokenCredential | undefined;

export function armConnectionFrom(cfg: ArmSettings): ArmConnection {
  let ca: string | undefined;
  if (cfg.KEYROTOR_ARM_CA_FILE) {
    try {
      ca = readFileSync(cfg.KEYROTOR_ARM_CA_FILE, "utf8");
    } catch (cause) {
      throw new InvalidRequestError("ArmCaFileUnreadable", `[keyrotor] [secrets] KEYROTOR_ARM_CA_FILE "${cfg.KEYROTOR_ARM_CA_FILE}" cannot be read`, { cause });
    }
  }
  const credential = cfg.KEYROTOR_ARM_CREDENTIAL === "local-peer" ? localArmPeerCredential : (defaultCredential ??= new DefaultAzureCredential());
  return { credential, ...(cfg.KEYROTOR_ARM_ENDPOINT ? { endpoint: cfg.KEYROTOR_ARM_ENDPOINT } : {}), ...(ca ? { ca } : {}) };
}

/** Every provider kind, over one ARM connection (made on first use) and the process's settings. */
export function secretProvidersFrom(cfg: ArmSettings, env: NodeJS.ProcessEnv = process.env): SecretProviders {
  let arm: ArmConnection | undefined;
  const connection = (): ArmConnection => (arm ??= armConnectionFrom(cfg));
  return secretProviders({
    storageAccountKey: (spec) => storageAccountKeyProvider(spec, connection()),
    serviceBusSas: (spec) => serviceBusSasProvider(spec, connection()),
    cosmosDbKey: (spec) => cosmosDbKeyProvider(spec, connection()),
    postgresPassword: (spec) => postgresProvider(spec, { setting: (name) => env[name] }),
  });
}

/** The provider check the validation gate (secretReadBack) calls: undefined for a secret whose
 * policy names no provider. */
export function providerCheckFrom(d: {
  inventory: { get(keyId: string): Promise<{ key: ManagedKey } | undefined> };
  policies: { policyFor(key: ManagedKey): Promise<{ secret?: { provider?: SecretProviderSpec } } | undefined> };
  providers: SecretProviders;
}): ProviderCheck {
  return async ({ keyId, value }) => {
    const row = await d.inventory.get(keyId);
    const spec = row ? (await d.policies.policyFor(row.key))?.secret?.provider : undefined;
    return spec ? d.providers.for(spec).validate(value) : undefined;
  };
}

/** Gives rotation deps the secret providers: the activities' provider steps and the gate's check.
 * The value read goes through the validation vault (the one secret read the engine has). */
export function withSecretProviders<D extends RotationDeps>(deps: D, providers: SecretProviders): D {
  const reader = deps.validationVault;
  deps.secrets = {
    ...deps.secrets,
    credentials: {
      providers,
      readSecret: async (vault, name, version) => {
        if (!reader) throw new InvariantViolationError("SecretReadMissing", "[keyrotor] [secrets] the rotation deps have no validationVault to read a secret version with");
        return (await reader.readSecret(vault, name, version)).value;
      },
    },
  };
  deps.validateAtProvider ??= providerCheckFrom({ inventory: deps.inventory, policies: deps.policies, providers });
  return deps;
}
