// Signing and verifying branch-key records. Signing is remote (Key Vault sign, once per branch key
// version, when it is created); verifying is local with the signing key's cached public key.
// The verifier trusts ONE signing key (by managed keyId, any of its versions): a record signed by
// any other key — however valid that signature — is refused.
import { DependencyUnavailableError, InvariantViolationError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import { signedContent, type BranchKeyIdentity } from "../domain/branchKeys";
import type { VaultKeys } from "../vault/keyVault";
import type { BranchKeyRecord } from "./records";

export interface BranchSigner {
  /** `signing:<vault>/<key>` */
  readonly keyId: string;
  /** The version new signatures are made with. */
  currentVersion(): Promise<string>;
  /** Remote. */
  sign(version: string, data: Uint8Array): Promise<Buffer>;
  /** Local. */
  verify(version: string, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** A signer over one Key Vault signing key (RSA, PS256). */
export function vaultSigner(signingKeyId: string, vault: VaultKeys): BranchSigner {
  const p = parseKeyId(signingKeyId, "signerKeyId");
  if (p.kind !== "signing") throw new InvariantViolationError("SignerKeyInvalid", `[keyrotor] [hierarchy] ${signingKeyId} is not a signing key`);
  let current: Promise<string> | undefined;
  return {
    keyId: signingKeyId,
    currentVersion: () => {
      current ??= vault.getKey(p.name).then((k) => k.version);
      current.catch(() => { current = undefined; });
      return current;
    },
    sign: (version, data) => vault.sign(p.name, version, data, "PS256"),
    verify: (version, data, signature) => vault.verify(p.name, version, data, signature, "PS256"),
  };
}

/** Signs a new record's identity (one remote call). */
export async function signIdentity(signer: BranchSigner, id: Omit<BranchKeyIdentity, "signerKeyId" | "signerVersion">): Promise<{ identity: BranchKeyIdentity; signature: string }> {
  const signerVersion = await signer.currentVersion();
  const identity: BranchKeyIdentity = { ...id, signerKeyId: signer.keyId, signerVersion };
  const signature = await signer.sign(signerVersion, signedContent(identity));
  return { identity, signature: signature.toString("base64url") };
}

/** Refuses a record that is not signed by the trusted key over exactly its identity. Local. */
export async function verifyRecord(signer: BranchSigner, r: BranchKeyRecord): Promise<void> {
  const refuse = (why: string, cause?: unknown) => new InvariantViolationError("BranchRecordUnsigned", `[keyrotor] [hierarchy] branch key ${r.kekKeyId} ${r.branchId}#${r.version} refused: ${why}`, { cause });
  if (!r.signature) throw refuse("it carries no signature");
  if (r.signerKeyId !== signer.keyId) throw refuse(`it is signed by ${r.signerKeyId}, not by the trusted ${signer.keyId}`);
  let ok: boolean;
  try {
    ok = await signer.verify(r.signerVersion, signedContent(r), Buffer.from(r.signature, "base64url"));
  } catch (err) {
    if (err instanceof DependencyUnavailableError) throw err; // the vault is busy: retry, not a forgery
    // A version the trusted key never had (or any failure to read it) proves nothing: refuse.
    throw refuse(`its signer version ${r.signerVersion} cannot be verified`, err);
  }
  if (!ok) throw refuse("its signature does not verify");
}
