// ValidationVault over the real Key Vault adapter (lib/vault: local wrap, remote unwrap and sign,
// secret read) and over the in-memory vault of tests and the memory host.
import { sign as cryptoSign, type KeyObject } from "node:crypto";
import { InvalidRequestError } from "../domain/errors";
import type { KeyVaultAdapter } from "../vault/keyVault";
import type { SigningAlg, ValidationVault } from "./ports";

type VaultOps = Pick<KeyVaultAdapter, "wrap" | "unwrap" | "sign" | "jwks" | "getSecret">;

/** Routes each call to that vault's adapter (the composition root's vaultFor). */
export function keyVaultValidationVault(vaultFor: (vault: string) => VaultOps): ValidationVault {
  return {
    wrapKey: (vault, name, version, plaintext) => vaultFor(vault).wrap(name, version, plaintext),
    unwrapKey: (vault, name, version, wrapped) => vaultFor(vault).unwrap(name, version, wrapped),
    sign: (vault, name, version, data, alg) => vaultFor(vault).sign(name, version, data, alg),
    async publicJwk(vault, name, version) {
      const jwk = (await vaultFor(vault).jwks(name, [version])).keys[0];
      if (!jwk) throw new InvalidRequestError("KeyVersionNotFound", `[keyrotor] [validation] no public key for ${vault}/${name}/${version}`, { status: 404 });
      return { ...jwk };
    },
    async readSecret(vault, name, version) {
      const s = await vaultFor(vault).getSecret(name, version);
      return { value: s.value, enabled: s.info.enabled };
    },
  };
}

/** What memoryValidationVault reads of the in-memory vault (lib/orchestration/memory.ts). */
export interface MemoryVaultView {
  readonly keys: ReadonlyMap<string, readonly { version: string; enabled: boolean; privateKey?: KeyObject; publicKey: KeyObject }[]>;
  readonly secrets: ReadonlyMap<string, readonly { version: string; enabled: boolean; value: string }[]>;
  wrapKey(vault: string, name: string, version: string, plaintext: Buffer): Promise<Buffer>;
  unwrapKey(vault: string, name: string, version: string, wrapped: Buffer): Promise<Buffer>;
  publicJwk(vault: string, name: string, version: string): Promise<{ kid: string; kty: string; [m: string]: unknown }>;
}

const HASH: Record<SigningAlg, string> = { RS256: "sha256", ES256: "sha256", ES384: "sha384", ES512: "sha512" };

export function memoryValidationVault(mem: MemoryVaultView): ValidationVault {
  const notFound = (what: string) => new InvalidRequestError("KeyVersionNotFound", `[keyrotor] [validation] ${what} not found`, { status: 404 });
  return {
    wrapKey: (vault, name, version, plaintext) => mem.wrapKey(vault, name, version, plaintext),
    unwrapKey: (vault, name, version, wrapped) => mem.unwrapKey(vault, name, version, wrapped),
    async sign(vault, name, version, data, alg) {
      const v = mem.keys.get(`${vault}/${name}`)?.find((x) => x.version === version);
      if (!v?.privateKey) throw notFound(`key ${vault}/${name}/${version}`);
      if (!v.enabled) throw new InvalidRequestError("KeyDisabled", `[keyrotor] [validation] key ${vault}/${name}/${version} is disabled`, { status: 403 });
      return alg.startsWith("ES")
        ? cryptoSign(HASH[alg], data, { key: v.privateKey, dsaEncoding: "ieee-p1363" })
        : cryptoSign(HASH[alg], data, v.privateKey);
    },
    publicJwk: (vault, name, version) => mem.publicJwk(vault, name, version),
    async readSecret(vault, name, version) {
      const s = mem.secrets.get(`${vault}/${name}`)?.find((x) => x.version === version);
      if (!s) throw notFound(`secret ${vault}/${name}/${version}`);
      return { value: s.value, enabled: s.enabled };
    },
  };
}
