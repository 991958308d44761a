// A DEK wrapped under a branch key: AES-256-GCM, local, with the DEK's identity as associated data
// (dekAad). Why GCM and not AES-KW: the associated data is what stops a stored wrap from being moved
// to another tenant, DEK version or branch key, and AES-KW (RFC 3394) has none.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { dekAad } from "../domain/branchKeys";
import { InvariantViolationError } from "../domain/errors";

const IV = 12;
const TAG = 16;

export interface DekBinding {
  tenant: string;
  dekVersion: number;
  kekKeyId: string;
  branchId: string;
  branchVersion: number;
}

export function wrapDek(branchKey: Uint8Array, dek: Uint8Array, b: DekBinding): string {
  const iv = randomBytes(IV);
  const c = createCipheriv("aes-256-gcm", branchKey, iv);
  c.setAAD(dekAad(b));
  return Buffer.concat([iv, c.update(dek), c.final(), c.getAuthTag()]).toString("base64url");
}

export function unwrapDek(branchKey: Uint8Array, wrapped: string, b: DekBinding): Buffer {
  const raw = Buffer.from(wrapped, "base64url");
  const fail = () => new InvariantViolationError("DekWrapInvalid", `[keyrotor] [hierarchy] DEK v${b.dekVersion} of tenant ${b.tenant} does not authenticate under branch key ${b.branchId}#${b.branchVersion} (moved, altered or not ours)`);
  if (raw.length < IV + TAG + 1) throw fail();
  const d = createDecipheriv("aes-256-gcm", branchKey, raw.subarray(0, IV));
  d.setAAD(dekAad(b));
  d.setAuthTag(raw.subarray(raw.length - TAG));
  try {
    return Buffer.concat([d.update(raw.subarray(IV, raw.length - TAG)), d.final()]);
  } catch {
    throw fail();
  }
}
