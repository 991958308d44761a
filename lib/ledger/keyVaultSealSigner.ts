// Seals signed by a Key Vault key. Signing goes to the vault (the private key never leaves it);
// verification is local with the public key fetched once per key version and cached, so verify()
// over years of seals costs one GET per signing-key version, not one call per seal.
import { createPublicKey, type JsonWebKey as NodeJwk, type KeyObject } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import {
  CryptographyClient, KeyClient, type CryptographyClientOptions, type KeyClientOptions, type KeyVaultKey,
} from "@azure/keyvault-keys";
import { DependencyUnavailableError } from "../domain/errors";
import { sha256 } from "./canonical";
import { algorithmFor, verifyLocally, type SealAlgorithm, type SealSigner } from "./seals";

export interface KeyVaultSealSignerOptions {
  /** The signing key's id (KEYROTOR_SEAL_KEY_ID): https://<vault>/keys/<name>[/<version>]. Without a
   * version the current version is resolved once, at creation. */
  keyId: string;
  credential: TokenCredential;
  /** Pipeline options for both clients (e.g. tlsOptions for a private CA). */
  clientOptions?: KeyClientOptions & CryptographyClientOptions;
}

interface ParsedKid {
  vaultUrl: string;
  name: string;
  version: string | undefined;
}

function parseKid(kid: string): ParsedKid {
  let url: URL;
  try {
    url = new URL(kid);
  } catch (err) {
    throw new Error(`[keyrotor] [ledger] the seal key id "${kid}" is not a URL`, { cause: err });
  }
  const [, keys, name, version] = url.pathname.split("/");
  if (keys !== "keys" || !name) throw new Error(`[keyrotor] [ledger] the seal key id "${kid}" is not https://<vault>/keys/<name>[/<version>]`);
  return { vaultUrl: url.origin, name, version: version || undefined };
}

/** Throttling, timeouts and outages are transient (retry); anything else (403: the identity lacks
 * keys/sign; 404: wrong key id) is a configuration fault and must not be retried as if transient. */
function vaultError(err: unknown, what: string): Error {
  const status = (err as { statusCode?: number } | undefined)?.statusCode;
  const message = `[keyrotor] [ledger] ${what}: ${(err as Error).message}`;
  if (status === undefined || status === 408 || status === 429 || status >= 500) return new DependencyUnavailableError("keyvault", message, { cause: err });
  return new Error(message, { cause: err });
}

const b64u = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("base64url") : undefined);

function publicKeyOf(key: KeyVaultKey): KeyObject {
  const jwk = key.key;
  if (!jwk) throw new Error(`[keyrotor] [ledger] Key Vault returned no public key for ${key.id ?? key.name}`);
  const kty = String(jwk.kty ?? "");
  let nodeJwk: NodeJwk;
  if (kty.startsWith("EC")) nodeJwk = { kty: "EC", crv: String(jwk.crv), x: b64u(jwk.x), y: b64u(jwk.y) };
  else if (kty.startsWith("RSA")) nodeJwk = { kty: "RSA", n: b64u(jwk.n), e: b64u(jwk.e) };
  else throw new Error(`[keyrotor] [ledger] seal keys must be EC or RSA, ${key.id ?? key.name} is ${kty}`);
  return createPublicKey({ key: nodeJwk, format: "jwk" });
}

export async function keyVaultSealSigner(opts: KeyVaultSealSignerOptions): Promise<SealSigner> {
  const { vaultUrl, name, version } = parseKid(opts.keyId);
  const keys = new KeyClient(vaultUrl, opts.credential, opts.clientOptions);
  const fetchKey = async (v: string | undefined): Promise<KeyVaultKey> => {
    try {
      return await keys.getKey(name, v ? { version: v } : {});
    } catch (err) {
      throw vaultError(err, `could not read the seal key ${name}${v ? `/${v}` : ""}`);
    }
  };
  const current = await fetchKey(version);
  if (!current.id) throw new Error(`[keyrotor] [ledger] Key Vault returned the seal key without an id`);
  const kid = current.id;
  const currentPublic = publicKeyOf(current);
  const alg: SealAlgorithm = algorithmFor(currentPublic);
  const crypto = new CryptographyClient(current, opts.credential, opts.clientOptions);
  const publicKeys = new Map<string, Promise<KeyObject | undefined>>([[kid, Promise.resolve(currentPublic)]]);

  const publicKeyFor = (sealKid: string): Promise<KeyObject | undefined> => {
    let cached = publicKeys.get(sealKid);
    if (!cached) {
      const p = parseKid(sealKid);
      // Only versions of the same key in the same vault are trusted: a seal cannot name its own key.
      cached = p.vaultUrl === vaultUrl && p.name === name && p.version ? fetchKey(p.version).then(publicKeyOf) : Promise.resolve(undefined);
      cached.catch(() => publicKeys.delete(sealKid));
      publicKeys.set(sealKid, cached);
    }
    return cached;
  };

  return {
    kid,
    alg,
    async sign(digest) {
      try {
        // Key Vault signs a precomputed hash: hash the message (the seal digest) as ES256/RS256 do.
        const res = await crypto.sign(alg, sha256(digest));
        return res.result;
      } catch (err) {
        throw vaultError(err, "Key Vault could not sign the seal");
      }
    },
    async verify(digest, signature, sealKid, sigAlg) {
      let key: KeyObject | undefined;
      try {
        key = await publicKeyFor(sealKid);
      } catch (err) {
        // A seal naming a version the vault does not have was not signed by our key.
        if ((err as Error).cause instanceof Error && ((err as Error).cause as { statusCode?: number }).statusCode === 404) return false;
        throw err;
      }
      return key ? verifyLocally(key, sigAlg, digest, signature) : false;
    },
  };
}
