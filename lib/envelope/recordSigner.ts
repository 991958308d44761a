// Signing and verifying keyrotor's key records (branch-key records, signed format-1 DEK records)
// with ONE Key Vault signing key (PS256). Signing is remote (once per record, when it is created);
// verifying is local with the signing key's cached public key. The verifier trusts that key only
// (by managed keyId, any of its versions): a record signed by any other key — however valid that
// signature — is refused. What a signature covers is each record kind's business (its canonical
// signed content, tagged with the kind, so a signature of one kind never verifies as another).
import { DependencyUnavailableError, InvariantViolationError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { VaultKeys } from "../vault/keyVault";

export interface RecordSigner {
  /** `signing:<vault>/<key>` */
  readonly keyId: string;
  /** The version new signatures are made with. */
  currentVersion(): Promise<string>;
  /** Remote. */
  sign(version: string, data: Uint8Array): Promise<Buffer>;
  /** Local. */
  verify(version: string, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Who signed a record: the trusted key, its version, the base64url signature. */
export interface RecordSignature {
  signerKeyId: string;
  signerVersion: string;
  signature: string;
}

/** A signer over one Key Vault signing key (RSA, PS256). */
export function vaultSigner(signingKeyId: string, vault: VaultKeys): RecordSigner {
  const p = parseKeyId(signingKeyId, "signerKeyId");
  if (p.kind !== "signing") throw new InvariantViolationError("SignerKeyInvalid", `[keyrotor] [signer] ${signingKeyId} is not a signing key`);
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

/** Signs the content `contentFor` builds from the signer's key id and current version (both part of
 * what is signed, so a signature cannot be re-labelled as another key's). One remote call. */
export async function signContent(signer: RecordSigner, contentFor: (signer: { signerKeyId: string; signerVersion: string }) => Uint8Array): Promise<RecordSignature> {
  const signerVersion = await signer.currentVersion();
  const signature = await signer.sign(signerVersion, contentFor({ signerKeyId: signer.keyId, signerVersion }));
  return { signerKeyId: signer.keyId, signerVersion, signature: signature.toString("base64url") };
}

/** Throws `refuse(why)` unless `sig` is the trusted key's signature over exactly `content`. Local. */
export async function verifyContent(
  signer: RecordSigner, sig: Partial<RecordSignature>, content: Uint8Array, refuse: (why: string, cause?: unknown) => Error,
): Promise<void> {
  if (!sig.signature || !sig.signerVersion) throw refuse("it carries no signature");
  if (sig.signerKeyId !== signer.keyId) throw refuse(`it is signed by ${String(sig.signerKeyId)}, not by the trusted ${signer.keyId}`);
  let ok: boolean;
  try {
    ok = await signer.verify(sig.signerVersion, content, Buffer.from(sig.signature, "base64url"));
  } catch (err) {
    if (err instanceof DependencyUnavailableError) throw err; // the vault is busy: retry, not a forgery
    // A version the trusted key never had (or any failure to read it) proves nothing: refuse.
    throw refuse(`its signer version ${sig.signerVersion} cannot be verified`, err);
  }
  if (!ok) throw refuse("its signature does not verify");
}
