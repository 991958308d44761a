// The evidence pack's manifest is signed by the ledger's seal signer, so a copy handed to an
// assessor can be checked offline with the seal's PUBLIC key alone: every file's SHA-256 against the
// manifest, and the manifest against its signature. The signature covers the canonical JSON of the
// manifest without its signature (same JWS-style message signature as the seals).
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { canonicalJson, sha256, sha256Hex } from "./canonical";
import type { EvidencePack, ManifestSignature } from "./evidenceTypes";
import { verifyLocally, type SealSigner } from "./seals";

export type { ManifestSignature } from "./evidenceTypes";

export interface EvidenceManifest {
  format: EvidencePack["format"];
  period: EvidencePack["period"];
  generatedAt: string;
  sha256: Record<string, string>;
  signature?: ManifestSignature;
}

/** What is signed: the manifest without its signature, canonical. */
export function manifestDigest(m: EvidenceManifest): Buffer {
  return sha256(canonicalJson({ format: m.format, period: { ...m.period }, generatedAt: m.generatedAt, sha256: { ...m.sha256 } }));
}

export function manifestFor(pack: EvidencePack, contents: Record<string, string>): EvidenceManifest {
  const digests: Record<string, string> = {};
  for (const [name, text] of Object.entries(contents)) digests[name] = sha256Hex(text);
  return { format: pack.format, period: pack.period, generatedAt: pack.generatedAt, sha256: digests };
}

export async function signManifest(m: EvidenceManifest, signer: Pick<SealSigner, "kid" | "alg" | "sign">): Promise<ManifestSignature> {
  return { kid: signer.kid, alg: signer.alg, value: Buffer.from(await signer.sign(manifestDigest(m))).toString("base64url") };
}

export interface PackVerification {
  ok: boolean;
  /** One line per problem, naming the file. */
  problems: string[];
  files: number;
  kid?: string;
}

/** Checks a pack directory offline: the manifest's signature under `publicKey`, and every listed file's digest. */
export async function verifyEvidenceDir(dir: string, publicKey: KeyObject | string): Promise<PackVerification> {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const problems: string[] = [];
  let manifest: EvidenceManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as EvidenceManifest;
  } catch (err) {
    return { ok: false, problems: [`manifest.json: unreadable (${(err as Error).message})`], files: 0 };
  }
  if (typeof manifest.sha256 !== "object" || manifest.sha256 === null || Object.keys(manifest.sha256).length === 0) {
    return { ok: false, problems: ["manifest.json: lists no files"], files: 0 };
  }
  const sig = manifest.signature;
  if (!sig || typeof sig.value !== "string") problems.push("manifest.json: not signed (the pack cannot be tied to the ledger's seal key)");
  else if (!verifyLocally(key, sig.alg, manifestDigest(manifest), Buffer.from(sig.value, "base64url"))) {
    problems.push(`manifest.json: the signature does not verify under this public key (kid ${sig.kid}, ${sig.alg}): the manifest was changed or signed by another key`);
  }
  for (const [name, digest] of Object.entries(manifest.sha256)) {
    // Only plain file names: a manifest must not send the check outside the pack.
    if (path.basename(name) !== name) {
      problems.push(`${name}: not a file name inside the pack`);
      continue;
    }
    let text: Buffer;
    try {
      text = await readFile(path.join(dir, name));
    } catch {
      problems.push(`${name}: listed in the manifest but missing`);
      continue;
    }
    if (sha256Hex(text) !== digest) problems.push(`${name}: SHA-256 differs from the manifest (the file was changed)`);
  }
  return { ok: problems.length === 0, problems, files: Object.keys(manifest.sha256).length, ...(sig ? { kid: sig.kid } : {}) };
}
