// How the envelope reaches a KEK: by managed keyId (`kek:<vault>/<key>`) and Key Vault version.
// The real adapter routes to the vault's KeyVaultAdapter (local wrap, remote unwrap); the memory
// one does real RSA-OAEP-256 in-process for unit tests and the demo host.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomUUID, type KeyObject } from "node:crypto";
import { InvalidRequestError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { VaultKeys } from "../vault/keyVault";

export type WrapAlg = "RSA-OAEP-256" | "A256KW";

export interface KekPort {
  wrap(kekKeyId: string, kekVersion: string, dek: Uint8Array, alg: WrapAlg): Promise<Buffer>;
  unwrap(kekKeyId: string, kekVersion: string, wrapped: Uint8Array, alg: WrapAlg): Promise<Buffer>;
}

/** Routes kek:<vault>/<key> to that vault's adapter. */
export function kekFromVaults(vaultFor: (vaultName: string) => VaultKeys): KekPort {
  const route = (kekKeyId: string) => {
    const p = parseKeyId(kekKeyId, "kekKeyId");
    if (p.kind !== "kek") throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [envelope] ${kekKeyId} is not a KEK`, { field: "kekKeyId" });
    return { vault: vaultFor(p.vault!), name: p.name };
  };
  return {
    wrap: (kekKeyId, version, dek, alg) => {
      const r = route(kekKeyId);
      return r.vault.wrap(r.name, version, dek, alg);
    },
    unwrap: (kekKeyId, version, wrapped, alg) => {
      const r = route(kekKeyId);
      return r.vault.unwrap(r.name, version, wrapped, alg);
    },
  };
}

/** In-process KEKs with real RSA-OAEP-256 (not a stand-in for Key Vault's API, just for its crypto). */
export class MemoryKek implements KekPort {
  private readonly versions = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();
  unwrapCalls = 0;

  /** Adds a version of `kekKeyId` and returns its version id. */
  addVersion(kekKeyId: string, version: string = randomUUID().replace(/-/g, "")): string {
    this.versions.set(`${kekKeyId}#${version}`, generateKeyPairSync("rsa", { modulusLength: 2048 }));
    return version;
  }

  private pair(kekKeyId: string, version: string) {
    const p = this.versions.get(`${kekKeyId}#${version}`);
    if (!p) throw new InvalidRequestError("KeyNotFound", `[keyrotor] [envelope] no KEK version ${kekKeyId}#${version}`, { status: 404 });
    return p;
  }

  async wrap(kekKeyId: string, version: string, dek: Uint8Array, alg: WrapAlg): Promise<Buffer> {
    if (alg !== "RSA-OAEP-256") throw new InvalidRequestError("WrapAlgUnsupported", `[keyrotor] [envelope] MemoryKek wraps with RSA-OAEP-256 only`);
    return publicEncrypt({ key: this.pair(kekKeyId, version).publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
  }

  async unwrap(kekKeyId: string, version: string, wrapped: Uint8Array, alg: WrapAlg): Promise<Buffer> {
    if (alg !== "RSA-OAEP-256") throw new InvalidRequestError("WrapAlgUnsupported", `[keyrotor] [envelope] MemoryKek unwraps RSA-OAEP-256 only`);
    this.unwrapCalls++;
    return privateDecrypt({ key: this.pair(kekKeyId, version).privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, wrapped);
  }
}
