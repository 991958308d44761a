// What the validation gates need: a vault that can run a new version's operations (a local wrap
// with the cached public key, a remote unwrap, a remote sign, a secret read-back), and the stores
// the gates read. Shapes are structural: the rotation deps satisfy them as they are.
import type { ManagedKey } from "../domain/keys";
import type { DekPort, Ledger, PolicyPort } from "../ports";
import type { FlatDekAuth } from "../envelope/flatDekAuth";

export interface ValidationJwk {
  kid: string;
  kty: string;
  [member: string]: unknown;
}

export type SigningAlg = "RS256" | "ES256" | "ES384" | "ES512";

export interface ValidationVault {
  /** Local RSA-OAEP-256 wrap with the version's cached public key (the rewrap's own path). */
  wrapKey(vault: string, name: string, version: string, plaintext: Buffer): Promise<Buffer>;
  /** Remote unwrap: the private half, in the vault. */
  unwrapKey(vault: string, name: string, version: string, wrapped: Buffer): Promise<Buffer>;
  /** Signs `data` with the version in the vault; returns the JWS signature (ECDSA as r‖s). */
  sign(vault: string, name: string, version: string, data: Buffer, alg: SigningAlg): Promise<Buffer>;
  publicJwk(vault: string, name: string, version: string): Promise<ValidationJwk>;
  /** A secret version's value (read back inside the gate only; never returned from it). */
  readSecret(vault: string, name: string, version: string): Promise<{ value: string; enabled: boolean }>;
}

/** Does a credential authenticate at its provider (lib/secrets provider port's validate)? */
export type ProviderCheck = (req: { keyId: string; vault: string; name: string; value: string }) => Promise<{ ok: true } | { ok: false; reason: string } | undefined>;

export interface ValidationDeps {
  validationVault: ValidationVault;
  ledger: Pick<Ledger, "append">;
  deks: Pick<DekPort, "tenantsPage" | "scanRange">;
  jwks: { get(vault: string, key: string): Promise<{ keys: ValidationJwk[] } | undefined> };
  inventory: { get(keyId: string): Promise<{ key: ManagedKey } | undefined> };
  policies: Pick<PolicyPort, "policyFor">;
  /** Provider secrets: the provider's own check (a real call). Undefined answer = no provider. */
  validateAtProvider?: ProviderCheck;
  /** Format-1 DEK authentication (lib/envelope/flatDekAuth.ts): the KEK rewrap sample verifies each
   * sampled row before its unwrap and its commitment after. */
  flatDekAuth?: FlatDekAuth;
}
