// Authenticated format-1 ("flat") DEK records: a DEK wrapped directly under the KEK (RSA) is
// signed once, when it is made, by the Key Vault signing key that signs branch-key records
// (KEYROTOR_BRANCH_SIGNING_KEY_ID, PS256, ./recordSigner.ts). Without it anyone holding the KEK's
// PUBLIC key and write access to the DEK table could add a row wrapping a DEK they chose, and
// consumers would encrypt tenant data under it.
//
// What is signed (flatDekSignedContent): the DEK's identity (tenant, dekId, dekVersion, kekKeyId),
// its createdAt, a KEY COMMITMENT (HMAC-SHA256 of a fixed label under the plaintext DEK) and the
// signer's key id and version. Not the wrapped bytes, the KEK version, the wrap algorithm or the
// state: a KEK re-wrap changes the first three and keeps the signature valid (no remote sign per
// DEK, and a re-wrap never vouches for a row: it only carries the signature over); the state is
// the rule book's. A row whose `wrapped` was replaced by a wrap of another key fails the
// commitment after unwrap; a row whose identity was edited fails the signature before any unwrap.
//
// Reading (open): the signature is verified LOCALLY before the DEK is ever unwrapped, the
// unwrapped DEK is checked against the signed commitment. A legacy row (written before DEKs were
// signed: no signature fields) is read only while `requireSignature` is off
// (KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE, docs/flat-dek-signatures.md says why and how to close the
// hole); a signed row is never read unverified: without a signing key to verify it, it is refused.
import { InvariantViolationError } from "../domain/errors";
import { keyCommitment, keyCommitmentMatches } from "../domain/keyCommitment";
import { DEK_BYTES, signatureOf, type DekRecord } from "./dekRecord";
import { signContent, verifyContent, type RecordSigner } from "./recordSigner";

const COMMITMENT_LABEL = "keyrotor flat DEK commitment v1";

/** The fields of a DEK the signature covers. */
export type FlatDekIdentity = Pick<DekRecord, "tenant" | "dekId" | "dekVersion" | "kekKeyId" | "createdAt"> & {
  commitment: string; signerKeyId: string; signerVersion: string;
};

/** Canonical bytes of the signed content: a JSON array in fixed order, with a format tag (a branch
 * key's signature never verifies as a DEK's, nor the other way round). */
export function flatDekSignedContent(id: FlatDekIdentity): Buffer {
  return Buffer.from(JSON.stringify(["keyrotor-flat-dek-v1", id.tenant, id.dekId, id.dekVersion, id.kekKeyId, id.commitment, id.createdAt, id.signerKeyId, id.signerVersion]), "utf8");
}

export function flatDekCommitment(dek: Uint8Array): string {
  return keyCommitment(dek, COMMITMENT_LABEL);
}

export const isSignedDek = (r: DekRecord): boolean => r.signature !== undefined;

export interface FlatDekAuthOptions {
  /** The trusted signing key. Without it new DEKs are written unsigned and signed ones are refused. */
  signer?: RecordSigner;
  /** Refuse legacy (unsigned) rows. Needs a signer. */
  requireSignature?: boolean;
}

export class FlatDekAuth {
  readonly signer: RecordSigner | undefined;
  readonly requireSignature: boolean;

  constructor(opts: FlatDekAuthOptions = {}) {
    if (opts.requireSignature && !opts.signer) {
      throw new InvariantViolationError("FlatDekSignerMissing", "[keyrotor] [envelope] flat DEKs are to require a signature, but no signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID)");
    }
    this.signer = opts.signer;
    this.requireSignature = opts.requireSignature ?? false;
  }

  /** The record signed with the commitment of `dek` (one remote sign). Without a signer: as it is. */
  async sign(r: DekRecord, dek: Uint8Array): Promise<DekRecord> {
    if (!this.signer) return r;
    const commitment = flatDekCommitment(dek);
    const sig = await signContent(this.signer, (s) => flatDekSignedContent({ ...r, commitment, ...s }));
    return { ...r, commitment, ...sig };
  }

  /** Before any unwrap, local: a signed row must verify over exactly its identity; a legacy row is
   * refused when signatures are required. Throws InvariantViolationError (FlatDekUnsigned,
   * FlatDekSignatureInvalid, FlatDekSignerMissing); a busy vault's error is rethrown as it is. */
  async verify(r: DekRecord): Promise<void> {
    const at = `[keyrotor] [envelope] DEK ${r.tenant}/${r.dekId} (v${r.dekVersion}, ${r.kekKeyId}) refused`;
    if (!isSignedDek(r)) {
      if (this.requireSignature) throw new InvariantViolationError("FlatDekUnsigned", `${at}: it carries no signature and flat DEKs must be signed (KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE)`);
      return;
    }
    if (!this.signer) throw new InvariantViolationError("FlatDekSignerMissing", `${at}: it is signed by ${String(r.signerKeyId)}, but no signing key is configured to verify it (KEYROTOR_BRANCH_SIGNING_KEY_ID)`);
    const { commitment, signerKeyId, signerVersion } = r;
    if (!commitment || !signerKeyId || !signerVersion) throw new InvariantViolationError("FlatDekSignatureInvalid", `${at}: its signature fields are incomplete`);
    await verifyContent(this.signer, signatureOf(r), flatDekSignedContent({ ...r, commitment, signerKeyId, signerVersion }), (why, cause) =>
      new InvariantViolationError("FlatDekSignatureInvalid", `${at}: ${why} (its identity or signature was altered, or another key signed it)`, { cause }));
  }

  /** After the unwrap: the DEK must be the signed one (a legacy row has no commitment to check).
   * Zeroes `dek` and throws FlatDekCommitmentMismatch when it is not. */
  checkKey(r: DekRecord, dek: Buffer): void {
    if (!isSignedDek(r)) return;
    if (dek.length !== DEK_BYTES || !keyCommitmentMatches(dek, r.commitment ?? "", COMMITMENT_LABEL)) {
      dek.fill(0);
      throw new InvariantViolationError("FlatDekCommitmentMismatch", `[keyrotor] [envelope] DEK ${r.tenant}/${r.dekId} (v${r.dekVersion}, ${r.kekKeyId}#${r.kekVersion}) refused: the wrapped key is not the signed one (its wrap was replaced)`);
    }
  }

  /** verify, then `unwrap` (remote), then checkKey. */
  async open(r: DekRecord, unwrap: () => Promise<Buffer>): Promise<Buffer> {
    await this.verify(r);
    const dek = await unwrap();
    this.checkKey(r, dek);
    return dek;
  }
}

/** What a reader without a configured signing key does: reads legacy rows as before, refuses signed
 * ones (it cannot verify them, and an unverified signature is no better than none). */
export const UNVERIFIED_FLAT_DEKS = new FlatDekAuth();
