// The two record shapes of the key hierarchy. Neither ever holds plaintext key material.
// - BranchKeyRecord: one version of a branch key, wrapped under a KEK version (RSA-OAEP-256, local
//   wrap with the vault's public key), signed once by a Key Vault signing key.
// - HierarchyDekRecord (DEK format 2): a tenant's DEK wrapped locally under a branch key version
//   with AES-256-GCM, the tenant, DEK version and branch key id/version bound as associated data.
import { InvalidRequestError } from "../domain/errors";
import { assignmentOfBranchId, type BranchKeyIdentity } from "../domain/branchKeys";
import { assertTenant } from "../envelope/dekRecord";

export const BRANCH_RECORD_FORMAT = 1;
export const DEK_FORMAT_2 = 2;

/** primary: new DEKs are wrapped under it; secondary: an older version DEKs still reference. */
export type BranchState = "primary" | "secondary";

export interface BranchKeyRecord extends BranchKeyIdentity {
  format: typeof BRANCH_RECORD_FORMAT;
  /** The KEK version `wrapped` is under (changes on KEK rotation; not signed: the commitment is). */
  kekVersion: string;
  alg: "RSA-OAEP-256";
  /** base64url of the branch key wrapped under kekKeyId#kekVersion. */
  wrapped: string;
  signatureAlg: "PS256";
  /** base64url signature over signedContent(identity). */
  signature: string;
  state: BranchState;
}

export interface HierarchyDekRecord {
  format: typeof DEK_FORMAT_2;
  tenant: string;
  dekId: string;
  dekVersion: number;
  kekKeyId: string;
  branchId: string;
  branchVersion: number;
  alg: "A256GCM";
  /** base64url of iv(12) ‖ ciphertext(32) ‖ tag(16). */
  wrapped: string;
  createdAt: string;
  state: "primary" | "secondary" | "retired" | "revoked";
  /** The emergency run that made this version for the tenant (its newDekVersions flag); absent on
   * every other DEK. The run's check before act: a tenant whose primary carries it is done. */
  rotationRun?: string;
}

const B64U = /^[A-Za-z0-9_-]+$/;

export function checkBranchRecord(r: BranchKeyRecord): BranchKeyRecord {
  const bad = (field: string, why: string) => new InvalidRequestError("BranchRecordInvalid", `[keyrotor] [hierarchy] branch key ${r.branchId}#${r.version}: ${field} ${why}`, { field });
  if ((r.format as unknown) !== BRANCH_RECORD_FORMAT) throw bad("format", `is ${String(r.format)}; this build reads format ${BRANCH_RECORD_FORMAT}`);
  assignmentOfBranchId(r.branchId);
  if (!Number.isInteger(r.version) || r.version < 1) throw bad("version", "must be a positive integer");
  if (!/^kek:[^/]+\/.+$/.test(r.kekKeyId)) throw bad("kekKeyId", "must be kek:<vault>/<key>");
  if (!/^signing:[^/]+\/.+$/.test(r.signerKeyId)) throw bad("signerKeyId", "must be signing:<vault>/<key>");
  if (!r.kekVersion || !r.signerVersion) throw bad("kekVersion/signerVersion", "is missing");
  if (r.alg !== "RSA-OAEP-256" || r.signatureAlg !== "PS256") throw bad("alg", "must be RSA-OAEP-256 / PS256");
  for (const f of ["wrapped", "signature", "commitment"] as const) if (!B64U.test(r[f] ?? "")) throw bad(f, "must be base64url");
  return r;
}

export function checkHierarchyDek(r: HierarchyDekRecord): HierarchyDekRecord {
  assertTenant(r.tenant);
  const bad = (field: string, why: string) => new InvalidRequestError("DekRecordInvalid", `[keyrotor] [hierarchy] DEK ${r.tenant}/${r.dekId}: ${field} ${why}`, { field });
  if ((r.format as unknown) !== DEK_FORMAT_2) throw bad("format", `is ${String(r.format)}, expected ${DEK_FORMAT_2}`);
  if (!Number.isInteger(r.dekVersion) || r.dekVersion < 1) throw bad("dekVersion", "must be a positive integer");
  if (!Number.isInteger(r.branchVersion) || r.branchVersion < 1) throw bad("branchVersion", "must be a positive integer");
  assignmentOfBranchId(r.branchId);
  if (r.alg !== "A256GCM") throw bad("alg", "must be A256GCM");
  if (!B64U.test(r.wrapped)) throw bad("wrapped", "must be base64url");
  return r;
}
