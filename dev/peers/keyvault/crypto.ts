// Real key material and the cryptographic operations Key Vault offers, on node:crypto. KeyObjects
// are built once per version and kept, so the unwrap hot path does no parsing.
import {
  constants, createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPair,
  privateDecrypt, privateEncrypt, publicDecrypt, publicEncrypt, randomBytes, timingSafeEqual, type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";
import { ecdsaSign, ecdsaVerify } from "./ecdsa";
import { PeerError, badParameter } from "./errors";

const generateKeyPairAsync = promisify(generateKeyPair);

export type Kty = "RSA" | "RSA-HSM" | "EC" | "EC-HSM" | "oct" | "oct-HSM";
export const KTYS: readonly Kty[] = ["RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM"];
export type Curve = "P-256" | "P-384";

export interface KeyMaterial {
  kty: Kty;
  /** RSA modulus bits or AES key bits. */
  size: number;
  crv?: Curve;
  privateKey?: KeyObject;
  publicKey?: KeyObject;
  secret?: Buffer;
  /** Public JWK members (n/e or crv/x/y) in base64url; empty for oct. */
  publicJwk: Record<string, string>;
  /** EC private scalar (for digest signing). */
  d?: Buffer;
}

/** What goes into the state file. */
export interface StoredMaterial {
  kty: Kty;
  pkcs8?: string;
  oct?: string;
}

export const isRsa = (kty: Kty): boolean => kty === "RSA" || kty === "RSA-HSM";
export const isEc = (kty: Kty): boolean => kty === "EC" || kty === "EC-HSM";
export const isOct = (kty: Kty): boolean => kty === "oct" || kty === "oct-HSM";
export const isHsm = (kty: Kty): boolean => kty.endsWith("-HSM");

export function defaultKeyOps(kty: Kty): string[] {
  if (isRsa(kty)) return ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"];
  if (isEc(kty)) return ["sign", "verify"];
  return ["encrypt", "decrypt", "wrapKey", "unwrapKey"];
}

function fromPrivate(kty: Kty, privateKey: KeyObject): KeyMaterial {
  const publicKey = createPublicKey(privateKey);
  const jwk = privateKey.export({ format: "jwk" });
  if (isRsa(kty)) {
    const n = String(jwk.n);
    return { kty, size: Buffer.from(n, "base64url").length * 8, privateKey, publicKey, publicJwk: { n, e: String(jwk.e) } };
  }
  const crv = jwk.crv as Curve;
  return {
    kty, size: crv === "P-384" ? 384 : 256, crv, privateKey, publicKey,
    publicJwk: { crv, x: String(jwk.x), y: String(jwk.y) }, d: Buffer.from(String(jwk.d), "base64url"),
  };
}

export interface CreateSpec {
  kty: Kty;
  keySize?: number;
  crv?: string;
  publicExponent?: number;
}

export async function generateMaterial(spec: CreateSpec): Promise<KeyMaterial> {
  if (isRsa(spec.kty)) {
    const size = spec.keySize ?? 2048;
    if (![2048, 3072, 4096].includes(size)) throw badParameter(`The key size ${size} is not supported for ${spec.kty} keys; use 2048, 3072 or 4096.`);
    const { privateKey } = await generateKeyPairAsync("rsa", { modulusLength: size, publicExponent: spec.publicExponent ?? 65537 });
    return fromPrivate(spec.kty, privateKey);
  }
  if (isEc(spec.kty)) {
    const crv = spec.crv ?? "P-256";
    if (crv !== "P-256" && crv !== "P-384") throw badParameter(`The curve ${crv} is not supported by this vault; use P-256 or P-384.`);
    const { privateKey } = await generateKeyPairAsync("ec", { namedCurve: crv });
    return fromPrivate(spec.kty, privateKey);
  }
  const size = spec.keySize ?? 256;
  if (![128, 192, 256].includes(size)) throw badParameter(`The key size ${size} is not supported for ${spec.kty} keys; use 128, 192 or 256.`);
  return { kty: spec.kty, size, secret: randomBytes(size / 8), publicJwk: {} };
}

export function storeMaterial(m: KeyMaterial): StoredMaterial {
  if (m.secret) return { kty: m.kty, oct: m.secret.toString("base64") };
  return { kty: m.kty, pkcs8: m.privateKey!.export({ format: "pem", type: "pkcs8" }).toString() };
}

export function loadMaterial(s: StoredMaterial): KeyMaterial {
  if (s.oct !== undefined) {
    const secret = Buffer.from(s.oct, "base64");
    return { kty: s.kty, size: secret.length * 8, secret, publicJwk: {} };
  }
  return fromPrivate(s.kty, createPrivateKey(s.pkcs8 ?? ""));
}

// ---- operations -------------------------------------------------------------------------------

const KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
const RSA_ENC_ALGS = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"];
const KW_ALGS: Record<string, number> = { A128KW: 128, A192KW: 192, A256KW: 256 };

function unsupportedAlg(alg: string, m: KeyMaterial): PeerError {
  return badParameter(`Algorithm ${alg} is not supported for a key of type ${m.kty}.`);
}

function rsaPadding(alg: string): { padding: number; oaepHash?: string } {
  if (alg === "RSA-OAEP") return { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" };
  if (alg === "RSA-OAEP-256") return { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
  return { padding: constants.RSA_PKCS1_PADDING };
}

/** encrypt and wrapKey. */
export function encryptWith(m: KeyMaterial, alg: string, value: Buffer): Buffer {
  if (isRsa(m.kty) && RSA_ENC_ALGS.includes(alg)) {
    return publicEncrypt({ key: m.publicKey!, ...rsaPadding(alg) }, value);
  }
  const kwBits = KW_ALGS[alg];
  if (isOct(m.kty) && kwBits !== undefined) {
    if (kwBits !== m.size) throw unsupportedAlg(alg, m);
    if (value.length < 16 || value.length % 8 !== 0) throw badParameter("The value to wrap must be a multiple of 8 bytes and at least 16 bytes long.");
    const c = createCipheriv(`id-aes${kwBits}-wrap`, m.secret!, KW_IV);
    return Buffer.concat([c.update(value), c.final()]);
  }
  throw unsupportedAlg(alg, m);
}

/** decrypt and unwrapKey. */
export function decryptWith(m: KeyMaterial, alg: string, value: Buffer): Buffer {
  try {
    if (isRsa(m.kty) && (alg === "RSA-OAEP" || alg === "RSA-OAEP-256")) {
      return privateDecrypt({ key: m.privateKey!, ...rsaPadding(alg) }, value);
    }
    if (isRsa(m.kty) && alg === "RSA1_5") return pkcs1v15Decrypt(m.privateKey!, value);
    const kwBits = KW_ALGS[alg];
    if (isOct(m.kty) && kwBits !== undefined && kwBits === m.size) {
      const d = createDecipheriv(`id-aes${kwBits}-wrap`, m.secret!, KW_IV);
      return Buffer.concat([d.update(value), d.final()]);
    }
  } catch (err) {
    if (err instanceof PeerError) throw err;
    throw badParameter("Decryption failed: the value could not be decrypted with this key and algorithm.");
  }
  throw unsupportedAlg(alg, m);
}

// Node 20 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809, Marvin); Key Vault still offers
// RSA1_5, so the padding is removed here after a raw RSA operation.
function pkcs1v15Decrypt(key: KeyObject, value: Buffer): Buffer {
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, value);
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw badParameter("Decryption failed: the value could not be decrypted with this key and algorithm.");
  return em.subarray(sep + 1);
}

const SIGN_HASH: Record<string, { hash: string; len: number }> = {
  RS256: { hash: "sha256", len: 32 }, RS384: { hash: "sha384", len: 48 }, RS512: { hash: "sha512", len: 64 },
  PS256: { hash: "sha256", len: 32 }, PS384: { hash: "sha384", len: 48 }, PS512: { hash: "sha512", len: 64 },
  ES256: { hash: "sha256", len: 32 }, ES384: { hash: "sha384", len: 48 },
};
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};
const EC_ALG_CURVE: Record<string, Curve> = { ES256: "P-256", ES384: "P-384" };

function signSpec(m: KeyMaterial, alg: string, digest: Buffer): { hash: string; len: number } {
  const spec = SIGN_HASH[alg];
  const family = alg.slice(0, 2);
  const fits = spec && ((family !== "ES" && isRsa(m.kty)) || (family === "ES" && isEc(m.kty) && EC_ALG_CURVE[alg] === m.crv));
  if (!spec || !fits) throw unsupportedAlg(alg, m);
  if (digest.length !== spec.len) throw badParameter(`The digest length ${digest.length} does not match algorithm ${alg}.`);
  return spec;
}

export function signWith(m: KeyMaterial, alg: string, digest: Buffer): Buffer {
  const { hash } = signSpec(m, alg, digest);
  if (alg.startsWith("RS")) {
    return privateEncrypt({ key: m.privateKey!, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[hash]!, digest]));
  }
  if (alg.startsWith("PS")) {
    return privateEncrypt({ key: m.privateKey!, padding: constants.RSA_NO_PADDING }, pssEncode(digest, hash, m.size - 1));
  }
  return ecdsaSign(m.crv!, m.d!, digest);
}

export function verifyWith(m: KeyMaterial, alg: string, digest: Buffer, signature: Buffer): boolean {
  const { hash } = signSpec(m, alg, digest);
  try {
    if (alg.startsWith("RS")) {
      const got = publicDecrypt({ key: m.publicKey!, padding: constants.RSA_PKCS1_PADDING }, signature);
      const want = Buffer.concat([DIGEST_INFO[hash]!, digest]);
      return got.length === want.length && timingSafeEqual(got, want);
    }
    if (alg.startsWith("PS")) {
      const em = publicDecrypt({ key: m.publicKey!, padding: constants.RSA_NO_PADDING }, signature);
      return pssVerify(digest, em, hash, m.size - 1);
    }
  } catch {
    return false;
  }
  return ecdsaVerify(m.crv!, Buffer.from(m.publicJwk.x!, "base64url"), Buffer.from(m.publicJwk.y!, "base64url"), digest, signature);
}

// EMSA-PSS (RFC 8017 §9.1) with MGF1 over the same hash and a salt as long as the hash, which is
// what Key Vault's PS* algorithms use.
function mgf1(seed: Buffer, len: number, hash: string): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, have = 0; have < len; i++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

function pssEncode(mHash: Buffer, hash: string, emBits: number): Buffer {
  const hLen = mHash.length;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const H = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(H, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  const em = Buffer.concat([db, H, Buffer.from([0xbc])]);
  // The raw RSA input must be as long as the modulus.
  return em.length * 8 < emBits + 1 ? Buffer.concat([Buffer.alloc(1), em]) : em;
}

function pssVerify(mHash: Buffer, raw: Buffer, hash: string, emBits: number): boolean {
  const hLen = mHash.length;
  const emLen = Math.ceil(emBits / 8);
  const em = raw.subarray(raw.length - emLen);
  if (raw.length > emLen && raw.subarray(0, raw.length - emLen).some((b) => b !== 0)) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const H = em.subarray(emLen - hLen - 1, emLen - 1);
  const mask = mgf1(H, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  const ps = emLen - 2 * hLen - 2;
  if (db.subarray(0, ps).some((b) => b !== 0) || db[ps] !== 1) return false;
  const salt = db.subarray(ps + 1);
  const H2 = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(H, H2);
}
