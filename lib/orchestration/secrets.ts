// Secret values are made inside the createSecretVersion activity and go straight to the vault:
// built-in generators need only a length. Credentials a provider regenerates (dual-credential) are
// lib/secrets' providers, chosen by the policy's secret.provider.
import { randomBytes } from "node:crypto";
import type { SecretGenerator, SecretGenerators } from "./ports";

/** `length` is the number of random bytes (the policy's secret length); the name is the policy's
 * secret encoding ("random" is hex, kept for older policies). */
export const builtInGenerators: Record<string, SecretGenerator> = {
  random: { generate: (length) => randomBytes(length).toString("hex") },
  hex: { generate: (length) => randomBytes(length).toString("hex") },
  base64: { generate: (length) => randomBytes(length).toString("base64") },
  base64url: { generate: (length) => randomBytes(length).toString("base64url") },
};

export function secretGenerators(): SecretGenerators {
  return { generators: { ...builtInGenerators } };
}
