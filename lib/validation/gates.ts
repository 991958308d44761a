// The validation gates: each runs a new version's real operations (probes) and returns a verdict
// (lib/domain/validation.ts). A probe that the vault refuses or answers wrongly is a failed probe;
// only a transient fault (throttled, unavailable) is thrown, so the activity is retried.
// Probes are random and zeroed after use; nothing a gate returns holds key material.
import { createPublicKey, randomBytes, verify as cryptoVerify, type JsonWebKey, type KeyObject } from "node:crypto";
import { InvalidRequestError, isKnownError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import { gateVerdict, sameBytes, sampleVerdict, secretShapeOk, spreadSample, type ProbeFailure, type ValidationResult } from "../domain/validation";
import { DEK_BYTES, dekVersionLabel, type DekRecord } from "../envelope/dekRecord";
import { Envelope } from "../envelope/envelope";
import type { KekPort } from "../envelope/kek";
import { DekResolver } from "../envelope/resolver";
import type { FlatDekAuth } from "../envelope/flatDekAuth";
import type { SigningAlg, ValidationDeps, ValidationJwk, ValidationVault } from "./ports";

const PROBE_BYTES = 32;

function vaultAndName(keyId: string): { vault: string; name: string } {
  const p = parseKeyId(keyId);
  if (!p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [validation] ${keyId} has no vault`);
  return { vault: p.vault, name: p.name };
}

/** Why a probe failed: the error's code. Transient faults are rethrown (the activity retries). */
function reasonOf(err: unknown): string {
  if (isKnownError(err)) {
    if (err.family === "dependencyUnavailable") throw err;
    return err.code;
  }
  return err instanceof Error ? err.name : "Error";
}

async function probe(version: string, failures: ProbeFailure[], run: () => Promise<string | undefined>): Promise<void> {
  try {
    const mismatch = await run();
    if (mismatch) failures.push({ version, reason: mismatch });
  } catch (err) {
    failures.push({ version, reason: reasonOf(err) });
  }
}

// ---- KEK ----------------------------------------------------------------------------------------

/** Before promotion: a random probe wrapped locally with the cached public key (the rewrap's
 * path) unwraps in the vault under the new version to the same bytes. */
export async function kekRoundTrip(vault: ValidationVault, keyId: string, version: string): Promise<ValidationResult> {
  const { vault: v, name } = vaultAndName(keyId);
  const failures: ProbeFailure[] = [];
  const plain = randomBytes(PROBE_BYTES);
  await probe(version, failures, async () => {
    const wrapped = await vault.wrapKey(v, name, version, plain);
    const back = await vault.unwrapKey(v, name, version, wrapped);
    try {
      return sameBytes(back, plain) ? undefined : "UnwrapMismatch";
    } finally {
      back.fill(0);
    }
  });
  plain.fill(0);
  return gateVerdict("kekRoundTrip", version, 1, failures);
}

export interface SampleLeg {
  /** DEKs unwrapped in this leg and the ones before it. */
  checked: number;
  failed: number;
  /** The first ten failures (tenant and DEK named in the reason). */
  failures: ProbeFailure[];
  tenants: number;
  /** Where the next leg starts; absent when every tenant partition was sampled. */
  cursor?: string;
}

/** After the rewrap, one leg: up to `perTenant` DEKs (spread over the first rows) of each tenant
 * partition in one page of tenants, each unwrapped in the vault under the new version. A DEK that
 * does not unwrap, or unwraps to something that is not a DEK, fails the sample. */
export async function kekRewrapSampleLeg(
  deps: Pick<ValidationDeps, "validationVault" | "deks" | "flatDekAuth">,
  input: { keyId: string; version: string; cursor?: string; perTenant: number; tenantsPerLeg: number; scanRows: number; before?: Omit<SampleLeg, "cursor"> },
): Promise<SampleLeg> {
  const { vault: v, name } = vaultAndName(input.keyId);
  const page = await deps.deks.tenantsPage({ limit: input.tenantsPerLeg, ...(input.cursor ? { continuation: input.cursor } : {}) });
  const failures = [...(input.before?.failures ?? [])];
  let checked = input.before?.checked ?? 0;
  let failed = input.before?.failed ?? 0;
  const keyId = input.keyId.toLowerCase();
  for (const tenant of page.tenants) {
    const rows = (await deps.deks.scanRange(tenant, { limit: input.scanRows })).records
      .filter((d) => d.kekKeyId.toLowerCase() === keyId && d.kekVersion === input.version);
    for (const d of spreadSample(rows, input.perTenant)) {
      checked++;
      // Failures keep the first few only: the verdict needs the count and the first reason.
      const sink: ProbeFailure[] = [];
      await probe(input.version, sink, async () => {
        // A row that does not authenticate fails the sample with its code (FlatDek*), unwrapped never
        // or checked against its signed commitment after.
        await deps.flatDekAuth?.verify(d);
        const dek = await deps.validationVault.unwrapKey(v, name, input.version, Buffer.from(d.wrapped, "base64url"));
        try {
          deps.flatDekAuth?.checkKey(d, dek);
          return dek.length === DEK_BYTES ? undefined : "NotADek";
        } finally {
          dek.fill(0);
        }
      });
      failed += sink.length;
      for (const f of sink) if (failures.length < 10) failures.push({ version: f.version, reason: `${f.reason} (tenant ${tenant}, DEK ${d.dekId})` });
    }
  }
  return {
    checked, failed, failures, tenants: (input.before?.tenants ?? 0) + page.tenants.length,
    ...(page.continuation ? { cursor: page.continuation } : {}),
  };
}

/** The sample's verdict once the last leg ran. */
export function kekRewrapSampleVerdict(version: string, leg: SampleLeg): ValidationResult {
  const v = sampleVerdict("kekRewrapSample", version, leg.checked, leg.failures);
  return { ...v, failed: leg.failed };
}

// ---- DEK ----------------------------------------------------------------------------------------

/** Before the new DEK becomes primary: lib/envelope encrypts a probe with the DEK as generated and
 * decrypts it the way a consumer will, resolving the stored (wrapped) DEK through the vault. A
 * wrap that does not unwrap to the same DEK fails authentication, so the gate fails. */
export async function dekProbe(kek: KekPort, dek: DekRecord, plaintext: Buffer, auth?: FlatDekAuth): Promise<ValidationResult> {
  const version = dekVersionLabel(dek.dekVersion);
  const record: DekRecord = { ...dek, state: "primary" };
  const source = { get: async () => record, getPrimary: async () => record };
  // The encrypting side holds the DEK as generated (a copy: the resolver zeroes what it evicts).
  const asGenerated: KekPort = { wrap: () => Promise.reject(new Error("not used")), unwrap: async () => Buffer.from(plaintext) };
  // Both authenticate the row as a consumer does (signature, then commitment after the unwrap).
  const writer = new DekResolver(source, asGenerated, auth ? { auth } : {});
  const reader = new DekResolver(source, kek, auth ? { auth } : {});
  const failures: ProbeFailure[] = [];
  const data = randomBytes(PROBE_BYTES);
  try {
    await probe(version, failures, async () => {
      const ciphertext = await new Envelope(writer).encrypt(dek.tenant, data);
      let back: Buffer;
      try {
        back = await new Envelope(reader).decrypt(ciphertext);
      } catch (err) {
        // GCM refuses a DEK that is not the one generated: the wrap does not round-trip.
        if (isKnownError(err) && err.code === "CiphertextInvalid") return "ProbeDoesNotDecrypt";
        throw err;
      }
      try {
        return sameBytes(back, data) ? undefined : "ProbeMismatch";
      } finally {
        back.fill(0);
      }
    });
  } finally {
    data.fill(0);
    writer.clear();
    reader.clear();
  }
  return gateVerdict("dekProbe", version, 1, failures);
}

// ---- signing ------------------------------------------------------------------------------------

/** The JWS algorithm a public key signs with. */
export function algFor(jwk: ValidationJwk): SigningAlg {
  if (jwk.kty === "EC" || jwk.kty === "EC-HSM") {
    if (jwk.crv === "P-384") return "ES384";
    if (jwk.crv === "P-521") return "ES512";
    return "ES256";
  }
  return "RS256";
}

const HASH: Record<SigningAlg, string> = { RS256: "sha256", ES256: "sha256", ES384: "sha384", ES512: "sha512" };

function publicKeyOf(jwk: ValidationJwk): KeyObject {
  const { kid: _kid, key_ops: _ops, alg: _alg, use: _use, ...material } = jwk;
  return createPublicKey({ key: { ...material, kty: jwk.kty.replace(/-HSM$/, "") } as JsonWebKey, format: "jwk" });
}

/** Whether `signature` over `data` verifies under the JWK. */
export function verifiesWith(jwk: ValidationJwk, data: Buffer, signature: Buffer): boolean {
  const alg = algFor(jwk);
  const key = publicKeyOf(jwk);
  return alg.startsWith("ES") ? cryptoVerify(HASH[alg], data, { key, dsaEncoding: "ieee-p1363" }, signature) : cryptoVerify(HASH[alg], data, key, signature);
}

/** The version a JWK's kid names (…/keys/<name>/<version>). */
export const versionOfKid = (kid: string): string => kid.split("/").pop() ?? "";

/** A token a version signed: a random probe and its signature (neither is secret). */
export interface ProbeToken {
  version: string;
  data: string;
  signature: string;
}

/** Signs a random probe with `version` in the vault. */
export async function signProbe(vault: ValidationVault, keyId: string, version: string): Promise<ProbeToken> {
  const { vault: v, name } = vaultAndName(keyId);
  const data = randomBytes(PROBE_BYTES);
  const alg = algFor(await vault.publicJwk(v, name, version));
  const signature = await vault.sign(v, name, version, data, alg);
  return { version, data: data.toString("base64url"), signature: signature.toString("base64url") };
}

function checkToken(keys: readonly ValidationJwk[], t: ProbeToken): string | undefined {
  const jwk = keys.find((k) => versionOfKid(k.kid) === t.version);
  if (!jwk) return "NotInJwks";
  return verifiesWith(jwk, Buffer.from(t.data, "base64url"), Buffer.from(t.signature, "base64url")) ? undefined : "SignatureDoesNotVerify";
}

/** Before the new version signs anything: a probe it signs in the vault verifies against the JWKS
 * about to be published (the stored document, which already includes the new version). Also signs
 * a probe with each `alsoSign` version (the primary, while it can still sign) for the check after
 * promotion; those tokens are returned. */
export async function signingProbe(
  deps: Pick<ValidationDeps, "validationVault" | "jwks">, keyId: string, version: string, alsoSign: readonly string[] = [],
): Promise<{ result: ValidationResult; tokens: ProbeToken[] }> {
  const { vault: v, name } = vaultAndName(keyId);
  const failures: ProbeFailure[] = [];
  const tokens: ProbeToken[] = [];
  await probe(version, failures, async () => {
    const token = await signProbe(deps.validationVault, keyId, version);
    tokens.push(token);
    const doc = await deps.jwks.get(v, name);
    return checkToken(doc?.keys ?? [], token);
  });
  // Tokens of the versions that stay in the JWKS; failing to make one is not this gate's verdict.
  for (const other of alsoSign) {
    if (other === version) continue;
    try {
      tokens.push(await signProbe(deps.validationVault, keyId, other));
    } catch (err) {
      reasonOf(err);
    }
  }
  return { result: gateVerdict("signingProbe", version, 1, failures), tokens };
}

/** After promotion: the published JWKS verifies a fresh token of the new version and the tokens
 * of the retained versions, and holds each retained version's public key as the vault has it. */
export async function signingPublished(
  deps: Pick<ValidationDeps, "validationVault" | "jwks">, keyId: string, version: string, retained: readonly string[], tokens: readonly ProbeToken[],
): Promise<ValidationResult> {
  const { vault: v, name } = vaultAndName(keyId);
  const failures: ProbeFailure[] = [];
  const doc = await deps.jwks.get(v, name);
  const keys = doc?.keys ?? [];
  let checked = 0;
  checked++;
  await probe(version, failures, async () => checkToken(keys, await signProbe(deps.validationVault, keyId, version)));
  for (const r of retained) {
    if (r === version) continue;
    checked++;
    const token = tokens.find((t) => t.version === r);
    await probe(r, failures, async () => {
      if (token) return checkToken(keys, token);
      // No token from before promotion (a version that could no longer sign): its published key
      // must be the vault's.
      const published = keys.find((k) => versionOfKid(k.kid) === r);
      if (!published) return "NotInJwks";
      const own = await deps.validationVault.publicJwk(v, name, r);
      return publicKeyOf(own).equals(publicKeyOf(published)) ? undefined : "PublishedKeyDiffers";
    });
  }
  return gateVerdict("signingPublished", version, checked, failures);
}

// ---- secret -------------------------------------------------------------------------------------

/** Before promotion: the new value reads back from the vault, enabled, with the shape the policy's
 * generator makes; a provider secret must also authenticate at the provider. */
export async function secretReadBack(
  deps: Pick<ValidationDeps, "validationVault" | "inventory" | "policies" | "validateAtProvider">, keyId: string, version: string,
): Promise<ValidationResult> {
  const { vault: v, name } = vaultAndName(keyId);
  const row = await deps.inventory.get(keyId);
  const spec = row ? (await deps.policies.policyFor(row.key))?.secret : undefined;
  const failures: ProbeFailure[] = [];
  let checked = 1;
  let value: string | undefined;
  await probe(version, failures, async () => {
    const read = await deps.validationVault.readSecret(v, name, version);
    value = read.value;
    if (!read.enabled) return "SecretDisabled";
    if (read.value.length === 0) return "SecretEmpty";
    // A provider's credential has its provider's shape: only a value is required of it.
    if (spec && !secretShapeOk(read.value, spec.provider?.kind ?? spec.encoding, spec.length)) return "SecretShapeMismatch";
    return undefined;
  });
  if (failures.length === 0 && value !== undefined && deps.validateAtProvider) {
    const secret = value;
    await probe(version, failures, async () => {
      const answer = await deps.validateAtProvider!({ keyId, vault: v, name, value: secret });
      if (answer === undefined) return undefined;
      checked++;
      return answer.ok ? undefined : `ProviderRejected: ${answer.reason}`;
    });
  }
  return gateVerdict("secretReadBack", version, checked, failures);
}
