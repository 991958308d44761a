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
import type { RowStore } from "./rowStore";

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
// An entity holds at most 1 MiB: heads up to this size live in the seal row itself (a few thousand
// chains); larger ones in heads rows of their own (below).
export const INLINE_HEADS_CHARS = 400_000;
// Parts per heads row (4 × 30,000 characters, well under the entity limit).
const PARTS_PER_HEADS_ROW = 4;

/** Heads rows live in the seals table, partition `heads:<root>`: content-addressed (the root is the
 * hash of exactly this list), so writing them before the seal is idempotent, a crash leaves only
 * an unreferenced copy, and any change to them no longer hashes to the signed root. */
export const headsPartition = (root: string): string => `heads:${root}`;

export interface HeadsRow {
  rowKey: string;
  props: RowProps;
}

const headsText = (heads: SealHead[]): string => JSON.stringify(heads.map((h) => [h.keyId, h.seq, h.hash]));

function splitParts(text: string, into: RowProps): number {
  let parts = 0;
  for (let i = 0; i * HEADS_PART < text.length; i++, parts++) into[`heads${i}`] = text.slice(i * HEADS_PART, (i + 1) * HEADS_PART);
  return parts;
}

/** The heads rows a seal over `heads` needs (none when they fit in the seal row). They depend on the
 * heads alone, so they can be written before the seal's number is known. */
export function headsRowsFor(heads: SealHead[], inlineHeadsChars = INLINE_HEADS_CHARS): HeadsRow[] {
  const text = headsText(heads);
  if (text.length <= inlineHeadsChars) return [];
  const rowChars = HEADS_PART * PARTS_PER_HEADS_ROW;
  const rows: HeadsRow[] = [];
  for (let i = 0; i * rowChars < text.length; i++) {
    const props: RowProps = {};
    props.headsParts = splitParts(text.slice(i * rowChars, (i + 1) * rowChars), props);
    rows.push({ rowKey: String(i).padStart(6, "0"), props });
  }
  return rows;
}

/** The seal row: heads inline, or (headsRows > 0) a count of the rows under headsPartition(root). */
export function sealToRow(s: LedgerSeal, headsRows = 0): RowProps {
  const row: RowProps = {
    sealSeq: s.sealSeq, at: s.at, chains: s.chains, root: s.root, prevHash: s.prevHash, hash: s.hash, kid: s.kid, alg: s.alg,
    signature: s.signature,
  };
  if (s.reason !== undefined) row.reason = s.reason;
  if (s.rotationId !== undefined) row.rotationId = s.rotationId;
  if (headsRows > 0) {
    row.headsParts = 0;
    row.headsRows = headsRows;
  } else {
    row.headsParts = splitParts(headsText(s.heads), row);
  }
  return row;
}

/** The text of a row's `heads0..headsN` parts, or a reason why it cannot be read. */
function joinParts(row: Record<string, unknown>): string | { problem: string } {
  const parts = row.headsParts;
  if (typeof parts !== "number") return { problem: "headsParts is missing" };
  let text = "";
  for (let i = 0; i < parts; i++) {
    const part = row[`heads${i}`];
    if (typeof part !== "string") return { problem: `heads part ${i} is missing` };
    text += part;
  }
  return text;
}

/** How many heads rows a seal row refers to (0: its heads are inline). */
export function headsRowsOf(row: Record<string, unknown>): number {
  return typeof row.headsRows === "number" && row.headsRows > 0 ? row.headsRows : 0;
}

/** Reads a seal row back. `headsRows` are the rows of headsPartition(root), in RowKey order, when the
 * seal row refers to them. Returns a reason string instead of throwing when anything is malformed. */
export function rowToSeal(row: Record<string, unknown>, headsRows: Record<string, unknown>[] = []): LedgerSeal | string {
  const str = (k: string) => (typeof row[k] === "string" ? row[k] : undefined);
  const num = (k: string) => (typeof row[k] === "number" ? row[k] : undefined);
  const sealSeq = num("sealSeq"), chains = num("chains");
  const at = str("at"), root = str("root"), prevHash = str("prevHash"), hash = str("hash"), kid = str("kid"), alg = str("alg"), signature = str("signature");
  if (sealSeq === undefined || chains === undefined || !at || !root || !prevHash || !hash || !kid || !alg || signature === undefined) {
    return "a required field is missing or has the wrong type";
  }
  let text = "";
  const external = headsRowsOf(row);
  if (external === 0) {
    const inline = joinParts(row);
    if (typeof inline !== "string") return inline.problem;
    text = inline;
  } else {
    if (headsRows.length !== external) return `the seal refers to ${external} heads rows; ${headsRows.length} exist`;
    for (const [i, r] of headsRows.entries()) {
      const part = joinParts(r);
      if (typeof part !== "string") return `heads row ${i}: ${part.problem}`;
      text += part;
    }
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

/** A seal row with its heads rows read from the store when it refers to them. */
export async function readSeal(store: RowStore, row: Record<string, unknown>): Promise<LedgerSeal | string> {
  if (headsRowsOf(row) === 0) return rowToSeal(row);
  if (typeof row.root !== "string") return "a required field is missing or has the wrong type";
  const headsRows: Record<string, unknown>[] = [];
  for await (const r of store.list({ partitionKey: headsPartition(row.root) })) headsRows.push(r.props);
  return rowToSeal(row, headsRows);
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
