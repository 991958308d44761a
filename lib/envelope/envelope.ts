// Envelope encryption for consumer services: AES-256-GCM under the tenant's primary DEK, with a
// version-tagged ciphertext that names the tenant and DEK version, so decrypt always picks the right
// DEK — across any number of DEK rotations — and refuses formats it does not know.
//
//   kr1.<tenant>.<dekVersion>.<iv base64url>.<ciphertext‖tag base64url>
//
// The header (everything before the IV) is authenticated as additional data, together with the
// caller's optional AAD, so a ciphertext cannot be relabelled to another tenant or version.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { InvalidRequestError } from "../domain/errors";
import { assertTenant } from "./dekRecord";
import { usedDekOf, type EnvelopeUsage } from "./usage";

/** Where the envelope gets DEK plaintexts: the flat DekResolver, or HierarchyDekResolver (format 2
 * under branch keys, falling back to format 1). */
export interface DekKeys {
  primary(tenant: string): Promise<{ record: { dekVersion: number }; key: Buffer }>;
  resolve(tenant: string, dekVersion: number): Promise<{ key: Buffer }>;
}

export const CIPHERTEXT_PREFIX = "kr1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface ParsedCiphertext {
  tenant: string;
  dekVersion: number;
  iv: Buffer;
  body: Buffer;
  header: string;
}

export function parseCiphertext(ciphertext: string): ParsedCiphertext {
  const parts = ciphertext.split(".");
  const prefix = parts[0] ?? "";
  if (prefix !== CIPHERTEXT_PREFIX) {
    const shown = /^[A-Za-z0-9:]{1,16}$/.test(prefix) ? `"${prefix}"` : "an unrecognised prefix";
    throw new InvalidRequestError("CiphertextFormatUnknown", `[keyrotor] [envelope] ciphertext format ${shown} is not supported (expected ${CIPHERTEXT_PREFIX}.<tenant>.<dekVersion>.<iv>.<data>)`, { field: "ciphertext" });
  }
  const [, tenant = "", versionText = "", ivText = "", bodyText = ""] = parts;
  const dekVersion = Number(versionText);
  if (parts.length !== 5 || !/^[1-9][0-9]{0,8}$/.test(versionText) || !/^[A-Za-z0-9-]{1,127}$/.test(tenant)) {
    throw new InvalidRequestError("CiphertextMalformed", "[keyrotor] [envelope] ciphertext is not well-formed kr1", { field: "ciphertext" });
  }
  const iv = Buffer.from(ivText, "base64url");
  const body = Buffer.from(bodyText, "base64url");
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) {
    throw new InvalidRequestError("CiphertextMalformed", "[keyrotor] [envelope] ciphertext has a bad IV or is truncated", { field: "ciphertext" });
  }
  return { tenant, dekVersion, iv, body, header: `${CIPHERTEXT_PREFIX}.${tenant}.${dekVersion}` };
}

function additionalData(header: string, aad?: Uint8Array): Buffer {
  // Length-prefixed so (header, aad) pairs cannot collide.
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([len, h, aad ?? Buffer.alloc(0)]);
}

export class Envelope {
  /** `usage` counts each operation per tenant, DEK and wrapping-key version (./usage.ts). */
  constructor(private readonly deks: DekKeys, private readonly usage?: EnvelopeUsage) {}

  async encrypt(tenant: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<string> {
    assertTenant(tenant);
    const { record, key } = await this.deks.primary(tenant);
    const header = `${CIPHERTEXT_PREFIX}.${tenant}.${record.dekVersion}`;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(additionalData(header, aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    this.usage?.record("encrypt", tenant, usedDekOf(record));
    return `${header}.${iv.toString("base64url")}.${body.toString("base64url")}`;
  }

  async decrypt(ciphertext: string, aad?: Uint8Array): Promise<Buffer> {
    const c = parseCiphertext(ciphertext);
    const resolved = await this.deks.resolve(c.tenant, c.dekVersion);
    const { key } = resolved;
    const decipher = createDecipheriv("aes-256-gcm", key, c.iv);
    decipher.setAAD(additionalData(c.header, aad));
    decipher.setAuthTag(c.body.subarray(c.body.length - TAG_BYTES));
    try {
      const plain = Buffer.concat([decipher.update(c.body.subarray(0, c.body.length - TAG_BYTES)), decipher.final()]);
      // Counted once authenticated: a forged ciphertext is not use of a version.
      this.usage?.record("decrypt", c.tenant, usedDekOf({ ...((resolved as { record?: object }).record ?? {}), dekVersion: c.dekVersion }));
      return plain;
    } catch {
      // GCM says only "unable to authenticate"; nothing about the key or data belongs in the error.
      throw new InvalidRequestError("CiphertextInvalid", `[keyrotor] [envelope] ciphertext under DEK v${c.dekVersion} of tenant ${c.tenant} does not authenticate (tampered, wrong AAD, or not ours)`, { field: "ciphertext" });
    }
  }
}
