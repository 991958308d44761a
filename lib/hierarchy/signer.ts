// Signing and verifying branch-key records, over the record signer shared with signed format-1 DEK
// records (lib/envelope/recordSigner.ts): one Key Vault signing key, remote sign once per branch key
// version when it is created, local verify.
import { InvariantViolationError } from "../domain/errors";
import { signedContent, type BranchKeyIdentity } from "../domain/branchKeys";
import { signContent, verifyContent, vaultSigner, type RecordSigner } from "../envelope/recordSigner";
import type { BranchKeyRecord } from "./records";

export type BranchSigner = RecordSigner;
export { vaultSigner };

/** Signs a new record's identity (one remote call). */
export async function signIdentity(signer: BranchSigner, id: Omit<BranchKeyIdentity, "signerKeyId" | "signerVersion">): Promise<{ identity: BranchKeyIdentity; signature: string }> {
  const { signature, ...by } = await signContent(signer, (s) => signedContent({ ...id, ...s }));
  return { identity: { ...id, ...by }, signature };
}

/** Refuses a record that is not signed by the trusted key over exactly its identity. Local. */
export async function verifyRecord(signer: BranchSigner, r: BranchKeyRecord): Promise<void> {
  await verifyContent(signer, r, signedContent(r), (why, cause) =>
    new InvariantViolationError("BranchRecordUnsigned", `[keyrotor] [hierarchy] branch key ${r.kekKeyId} ${r.branchId}#${r.version} refused: ${why}`, { cause }));
}
