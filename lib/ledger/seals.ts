// Seals: signed snapshots of every chain's head. The signer is an interface so that production
// signs with a Key Vault key (keyVaultSealSigner) and tests with a node:crypto key.
//
// What is signed: the 32 bytes of the seal digest, as the *message* of a standard JWS-style
// signature (ES256 = ECDSA P-256 over SHA-256(message); RS256 = RSASSA-PKCS1-v1_5 over
// SHA-256(message)). Any JOSE library can verify a seal from the digest and the public key.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import type { LedgerSeal, SealHead } from "../ports";
import { canonicalJson, sha256, sha256Hex } from "./canonical";
import type { RowProps } from "./entry";

export interface SealSigner {
  /** Identifier of the key that signs new seals (stored on each seal). */
  readonly kid: string;
  readonly alg: SealAlgorithm;
  sign(digest: Uint8Array): Promise<Uint8Array>;
  /** Verifies a seal signed by `kid` (which may be an older version of the signing key). */
  verify(digest: Uint8Array, signature: Uint8Array, kid: string, alg: string): Promise<boolean>;
}

export type SealAlgorithm = "ES256" | "ES384" | "RS256";

/** Hash over the heads sorted by keyId; part of the signed payload. */
export function sealRoot(heads: SealHead[]): string {
  const sorted = [...heads].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  return sha256Hex(canonicalJson(sorted.map((h) => [h.keyId, h.seq, h.hash])));
}

type SealPayload = Omit<LedgerSeal, "heads" | "hash" | "signature">;

export function sealDigest(p: SealPayload): Buffer {
  return sha256(
    canonicalJson({
      sealSeq: p.sealSeq, at: p.at, chains: p.chains, root: p.root, prevHash: p.prevHash, kid: p.kid, alg: p.alg,
      reason: p.reason, rotationId: p.rotationId,
    }),
  );
}

// ---- rows -----------------------------------------------------------------------------------------

// Table string properties hold at most 32K UTF-16 characters: the heads are split into parts.
const HEADS_PART = 30_000;
// An entity holds at most 1 MiB; keep well clear of it.
const MAX_HEADS_CHARS = 400_000;

export function sealToRow(s: LedgerSeal): RowProps {
  const heads = JSON.stringify(s.heads.map((h) => [h.keyId, h.seq, h.hash]));
  if (heads.length > MAX_HEADS_CHARS) {
    throw new Error(`[keyrotor] [ledger] a seal of ${s.heads.length} chains does not fit one Table entity (${heads.length} characters of heads)`);
  }
  const row: RowProps = {
    sealSeq: s.sealSeq, at: s.at, chains: s.chains, root: s.root, prevHash: s.prevHash, hash: s.hash, kid: s.kid, alg: s.alg,
    signature: s.signature, headsParts: Math.ceil(heads.length / HEADS_PART),
  };
  for (let i = 0; i * HEADS_PART < heads.length; i++) row[`heads${i}`] = heads.slice(i * HEADS_PART, (i + 1) * HEADS_PART);
  if (s.reason !== undefined) row.reason = s.reason;
  if (s.rotationId !== undefined) row.rotationId = s.rotationId;
  return row;
}

export function rowToSeal(row: Record<string, unknown>): LedgerSeal | string {
  const str = (k: string) => (typeof row[k] === "string" ? row[k] : undefined);
  const num = (k: string) => (typeof row[k] === "number" ? row[k] : undefined);
  const sealSeq = num("sealSeq"), chains = num("chains"), parts = num("headsParts");
  const at = str("at"), root = str("root"), prevHash = str("prevHash"), hash = str("hash"), kid = str("kid"), alg = str("alg"), signature = str("signature");
  if (sealSeq === undefined || chains === undefined || parts === undefined || !at || !root || !prevHash || !hash || !kid || !alg || signature === undefined) {
    return "a required field is missing or has the wrong type";
  }
  let text = "";
  for (let i = 0; i < parts; i++) {
    const part = str(`heads${i}`);
    if (part === undefined) return `heads part ${i} is missing`;
    text += part;
  }
  let heads: SealHead[];
  try {
    const raw = JSON.parse(text || "[]") as unknown;
    if (!Array.isArray(raw)) return "heads is not a list";
    heads = raw.map((h) => {
      if (!Array.isArray(h) || typeof h[0] !== "string" || typeof h[1] !== "number" || typeof h[2] !== "string") throw new Error("bad head");
      return { keyId: h[0], seq: h[1], hash: h[2] };
    });
  } catch {
    return "heads is not a list of [keyId, seq, hash]";
  }
  const seal: LedgerSeal = { sealSeq, at, chains, root, heads, prevHash, hash, kid, alg, signature };
  const reason = str("reason"), rotationId = str("rotationId");
  if (reason !== undefined) seal.reason = reason;
  if (rotationId !== undefined) seal.rotationId = rotationId;
  return seal;
}

// ---- node:crypto signer ---------------------------------------------------------------------------

export interface NodeSealSignerOptions {
  kid: string;
  /** PEM, or a private KeyObject (EC P-256 → ES256, EC P-384 → ES384, RSA → RS256). */
  privateKey: string | KeyObject;
  /** Public keys of earlier signing keys, by kid, so older seals still verify after a key change. */
  trusted?: Record<string, string | KeyObject>;
}

const ecDigest = { ES256: "sha256", ES384: "sha384", RS256: "sha256" } as const;

export function algorithmFor(key: KeyObject): SealAlgorithm {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return "ES256";
    if (curve === "secp384r1") return "ES384";
  }
  throw new Error(`[keyrotor] [ledger] seal keys must be RSA, EC P-256 or EC P-384 (got ${key.asymmetricKeyType ?? "unknown"})`);
}

/** Verifies a JWS-style signature over `message` with a public key held locally. */
export function verifyLocally(publicKey: KeyObject, alg: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (alg !== "ES256" && alg !== "ES384" && alg !== "RS256") return false;
  if (algorithmFor(publicKey) !== alg) return false;
  const opts = alg === "RS256" ? { key: publicKey } : { key: publicKey, dsaEncoding: "ieee-p1363" as const };
  try {
    return cryptoVerify(ecDigest[alg], message, opts, signature);
  } catch {
    return false;
  }
}

/** A signer over a key held in this process: for tests, benches and the local host. */
export function nodeSealSigner(opts: NodeSealSignerOptions): SealSigner {
  const privateKey = typeof opts.privateKey === "string" ? createPrivateKey(opts.privateKey) : opts.privateKey;
  const alg = algorithmFor(privateKey);
  const publicKeys = new Map<string, KeyObject>([[opts.kid, createPublicKey(privateKey)]]);
  for (const [kid, k] of Object.entries(opts.trusted ?? {})) publicKeys.set(kid, typeof k === "string" ? createPublicKey(k) : k);
  return {
    kid: opts.kid,
    alg,
    async sign(digest) {
      const o = alg === "RS256" ? { key: privateKey } : { key: privateKey, dsaEncoding: "ieee-p1363" as const };
      return cryptoSign(ecDigest[alg], digest, o);
    },
    async verify(digest, signature, kid, sigAlg) {
      const key = publicKeys.get(kid);
      return key ? verifyLocally(key, sigAlg, digest, signature) : false;
    },
  };
}

/** A fresh EC P-256 signer (tests, benches). */
export function ephemeralSealSigner(kid = "local:ephemeral-seal-key"): SealSigner {
  return nodeSealSigner({ kid, privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey });
}
