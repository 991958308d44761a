// The DEK record: one wrapped data-encryption key as it is stored (Table Storage, see
// lib/stores/dekStore.ts). Version-tagged (`format`) so a future layout can be read side by side.
// A record never holds plaintext key material: `wrapped` is the DEK wrapped under a KEK version.
import { randomBytes } from "node:crypto";
import { InvalidRequestError } from "../domain/errors";
import type { VersionState } from "../domain/keys";
import type { KekPort, WrapAlg } from "./kek";

export const DEK_RECORD_FORMAT = 1;
export const WRAP_ALGS = ["RSA-OAEP-256", "A256KW"] as const;
export const DEK_BYTES = 32;

export interface DekRecord {
  format: typeof DEK_RECORD_FORMAT;
  tenant: string;
  /** Row identity within the tenant. For the tenant's DEK chain it is dekIdFor(dekVersion). */
  dekId: string;
  /** 1, 2, 3, … per tenant; ciphertexts name it. */
  dekVersion: number;
  /** Managed KEK, `kek:<vault>/<key>`. */
  kekKeyId: string;
  /** Key Vault version of the KEK that wraps this DEK. */
  kekVersion: string;
  alg: WrapAlg;
  /** base64url of the wrapped DEK. */
  wrapped: string;
  createdAt: string;
  state: VersionState;
  /** The rotation that made this DEK, when a rotation did. Not a column of the DEK row: the rotation
   * engine keeps it in its intent row (lib/orchestration/tableDeks.ts) and reports it on read. */
  rotationId?: string;
  /** Signed DEK (./flatDekAuth.ts): base64url HMAC-SHA256 of a fixed label under the plaintext DEK,
   * checked after every unwrap. With the three signature fields; all four absent on a legacy row. */
  commitment?: string;
  /** The Key Vault signing key (`signing:<vault>/<key>`) and version that signed the DEK's identity
   * (tenant, dekId, dekVersion, kekKeyId, commitment, createdAt; not the wrap or the KEK version,
   * which a KEK re-wrap changes). */
  signerKeyId?: string;
  signerVersion?: string;
  /** base64url PS256 signature over flatDekSignedContent(record). */
  signature?: string;
}

/** The fields a signed DEK carries (all or none). */
export const DEK_SIGNATURE_FIELDS = ["commitment", "signerKeyId", "signerVersion", "signature"] as const;
export type DekSignatureFields = Required<Pick<DekRecord, (typeof DEK_SIGNATURE_FIELDS)[number]>>;

/** A DEK as read from the store, with the ETag a conditional write needs. */
export interface StoredDek extends DekRecord {
  etag: string;
}

/** A KEK version a DEK is (or is to be) wrapped under. */
export interface DekWrap {
  kekKeyId: string;
  kekVersion: string;
  alg?: WrapAlg;
}

/** The inventory names DEK version n of `dek:<tenant>` "v<n>" (persisted in inventory rows and
 * rotation results, so kept); the DEK record itself holds the number. */
export const dekVersionLabel = (dekVersion: number): string => `v${dekVersion}`;

/** The number of an inventory DEK version label ("v3" → 3). */
export function dekVersionOfLabel(label: string): number {
  const m = /^v0*(\d+)$/.exec(label);
  if (!m) throw new InvalidRequestError("DekVersionInvalid", `[keyrotor] [envelope] DEK version "${label}" is not v<n>`, { field: "dekVersion" });
  return Number(m[1]);
}

const TENANT = /^[A-Za-z0-9-]{1,127}$/;
const DEK_ID = /^[A-Za-z0-9_-]{1,200}$/;

export function assertTenant(tenant: string): void {
  if (!TENANT.test(tenant)) throw new InvalidRequestError("TenantInvalid", `[keyrotor] [envelope] tenant must be 1-127 letters, digits or "-", got "${tenant}"`, { field: "tenant" });
}

/** Zero-padded so a tenant's DEKs list in version order. */
export function dekIdFor(dekVersion: number): string {
  if (!Number.isInteger(dekVersion) || dekVersion < 1) throw new InvalidRequestError("DekVersionInvalid", `[keyrotor] [envelope] dekVersion must be a positive integer, got ${dekVersion}`, { field: "dekVersion" });
  return `v${String(dekVersion).padStart(8, "0")}`;
}

/** Validates a record read from storage or handed in by a caller. */
export function checkDekRecord(r: DekRecord): DekRecord {
  const format: unknown = r.format;
  assertTenant(r.tenant);
  const bad = (field: string, why: string) => new InvalidRequestError("DekRecordInvalid", `[keyrotor] [envelope] DEK ${r.tenant}/${r.dekId}: ${field} ${why}`, { field });
  if (format !== DEK_RECORD_FORMAT) throw bad("format", `is ${String(format)}; this build reads format ${DEK_RECORD_FORMAT}`);
  if (!DEK_ID.test(r.dekId)) throw bad("dekId", "must be 1-200 letters, digits, _ or -");
  if (!Number.isInteger(r.dekVersion) || r.dekVersion < 1) throw bad("dekVersion", "must be a positive integer");
  if (!/^kek:[^/]+\/.+$/.test(r.kekKeyId)) throw bad("kekKeyId", "must be kek:<vault>/<key>");
  if (!r.kekVersion) throw bad("kekVersion", "is missing");
  if (!(WRAP_ALGS as readonly string[]).includes(r.alg)) throw bad("alg", `must be one of ${WRAP_ALGS.join(", ")}`);
  if (!/^[A-Za-z0-9_-]+$/.test(r.wrapped)) throw bad("wrapped", "must be base64url");
  const signed = DEK_SIGNATURE_FIELDS.filter((f) => r[f] !== undefined);
  if (signed.length > 0) {
    // Half a signature is no signature: a row carrying some of the fields is refused, not read as legacy.
    for (const f of DEK_SIGNATURE_FIELDS) if (!r[f]) throw bad(f, "is missing (a signed DEK carries commitment, signerKeyId, signerVersion and signature)");
    if (!/^signing:[^/]+\/.+$/.test(r.signerKeyId ?? "")) throw bad("signerKeyId", "must be signing:<vault>/<key>");
    for (const f of ["commitment", "signature"] as const) if (!/^[A-Za-z0-9_-]+$/.test(r[f] ?? "")) throw bad(f, "must be base64url");
  }
  return r;
}

/** Builds and checks a record from its parts: the wrapped bytes as bytes, the id from the version
 * unless named, RSA-OAEP-256 and primary unless named. */
export function dekRecord(spec: {
  tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; wrapped: Uint8Array; createdAt: string;
  alg?: WrapAlg; state?: VersionState; dekId?: string; rotationId?: string; signed?: DekSignatureFields;
}): DekRecord {
  return checkDekRecord({
    format: DEK_RECORD_FORMAT,
    tenant: spec.tenant,
    dekId: spec.dekId ?? dekIdFor(spec.dekVersion),
    dekVersion: spec.dekVersion,
    kekKeyId: spec.kekKeyId,
    kekVersion: spec.kekVersion,
    alg: spec.alg ?? "RSA-OAEP-256",
    wrapped: Buffer.from(spec.wrapped).toString("base64url"),
    createdAt: spec.createdAt,
    state: spec.state ?? "primary",
    ...(spec.rotationId ? { rotationId: spec.rotationId } : {}),
    ...(spec.signed ? signatureOf(spec.signed) : {}),
  });
}

/** The signature fields of a record (none on a legacy row), to carry them to a copy of it. */
export function signatureOf(r: Partial<DekSignatureFields>): Partial<DekSignatureFields> {
  // Field by field: a row carrying only some of them keeps exactly those, so checkDekRecord refuses it.
  const out: Partial<DekSignatureFields> = {};
  for (const f of DEK_SIGNATURE_FIELDS) if (r[f] !== undefined) out[f] = r[f];
  return out;
}

/** Generates a fresh 256-bit DEK, wraps it under the given KEK version and returns only the record.
 * The plaintext lives in this function's scope and is zeroed before returning. */
export async function createWrappedDek(
  spec: { tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; alg?: WrapAlg; state?: VersionState; dekId?: string },
  kek: KekPort,
  now: Date,
  /** Signs the record when it has a signing key (a FlatDekAuth, ./flatDekAuth.ts, which imports this
   * module: named by shape here); without one the record is unsigned. */
  auth?: { sign(r: DekRecord, dek: Uint8Array): Promise<DekRecord> },
): Promise<DekRecord> {
  assertTenant(spec.tenant);
  const plaintext = randomBytes(DEK_BYTES);
  try {
    const alg = spec.alg ?? "RSA-OAEP-256";
    const wrapped = await kek.wrap(spec.kekKeyId, spec.kekVersion, plaintext, alg);
    const record = dekRecord({ ...spec, alg, wrapped, createdAt: now.toISOString() });
    return auth ? await auth.sign(record, plaintext) : record;
  } finally {
    plaintext.fill(0);
  }
}
