// Secret values are made inside the createSecretVersion activity and go straight to the vault:
// built-in generators need only a length; provider rotators use the dual-credential pattern.
import { randomBytes } from "node:crypto";
import type { ProviderRotator, SecretGenerator, SecretGenerators } from "./ports";

/** `length` is the number of random bytes (the policy's secret length); the name is the policy's
 * secret encoding ("random" is hex, kept for older policies). */
export const builtInGenerators: Record<string, SecretGenerator> = {
  random: { generate: (length) => randomBytes(length).toString("hex") },
  hex: { generate: (length) => randomBytes(length).toString("hex") },
  base64: { generate: (length) => randomBytes(length).toString("base64") },
  base64url: { generate: (length) => randomBytes(length).toString("base64url") },
};

/** A provider with two interchangeable credentials (storage account key1/key2, Cosmos DB keys,
 * ...): regenerate the one not in use, so consumers on the current one keep working during overlap. */
export interface DualCredentialProvider {
  regenerate(slot: "key1" | "key2"): Promise<string> | string;
}

export function dualCredentialRotator(provider: DualCredentialProvider): ProviderRotator {
  return {
    async rotate(req) {
      const slot = req.currentSlot === "key1" ? "key2" : "key1";
      return { value: await provider.regenerate(slot), slot };
    },
  };
}

export function secretGenerators(providers: Record<string, ProviderRotator> = {}): SecretGenerators {
  return { generators: { ...builtInGenerators }, providers };
}
