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
}

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
  return r;
}

/** Builds and checks a record from its parts: the wrapped bytes as bytes, the id from the version
 * unless named, RSA-OAEP-256 and primary unless named. */
export function dekRecord(spec: {
  tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; wrapped: Uint8Array; createdAt: string;
  alg?: WrapAlg; state?: VersionState; dekId?: string; rotationId?: string;
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
  });
}

/** Generates a fresh 256-bit DEK, wraps it under the given KEK version and returns only the record.
 * The plaintext lives in this function's scope and is zeroed before returning. */
export async function createWrappedDek(
  spec: { tenant: string; dekVersion: number; kekKeyId: string; kekVersion: string; alg?: WrapAlg; state?: VersionState; dekId?: string },
  kek: KekPort,
  now: Date,
): Promise<DekRecord> {
  assertTenant(spec.tenant);
  const plaintext = randomBytes(DEK_BYTES);
  try {
    const alg = spec.alg ?? "RSA-OAEP-256";
    const wrapped = await kek.wrap(spec.kekKeyId, spec.kekVersion, plaintext, alg);
    return dekRecord({ ...spec, alg, wrapped, createdAt: now.toISOString() });
  } finally {
    plaintext.fill(0);
  }
}
