// The Key Vault port (what the rotation workflows need from a vault) and its adapter over the real
// SDK clients. Public-key operations happen here, locally, with a cached KeyObject per version:
// the SDK's local path lacks RSA-OAEP-256 and converts the JWK on every call (FINDINGS.md), and the
// vault's per-vault limit is the rewrap's only budget, so only unwrap and sign go to the vault.
import { constants, createHash, createPublicKey, publicEncrypt, verify as cryptoVerify, type KeyObject, type JsonWebKey as NodeJwk } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import {
  CryptographyClient, KeyClient, type JsonWebKey, type KeyProperties, type KeyVaultKey,
  type KeyWrapAlgorithm, type SignatureAlgorithm,
} from "@azure/keyvault-keys";
import { SecretClient, type SecretProperties } from "@azure/keyvault-secrets";
import type { Config } from "../config";
import { InvalidRequestError } from "../domain/errors";
import { keyVaultClientOptions, keyVaultCredential, vaultUrlFor, type KeyVaultClientOptions } from "../identity";
import { isKeyVaultNotFound, kv, translateKeyVaultError } from "./errors";

/** Tag carrying the rotation that created a version: how a retried step finds its own work. */
export const ROTATION_TAG = "rotationId";

export interface KeyVersionInfo {
  /** The version's full key id URL (Key Vault's `kid`). */
  kid: string;
  name: string;
  version: string;
  enabled: boolean;
  createdOn?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
  /** Present when read with getKey (a list returns properties only). */
  kty?: string;
  keyOps?: string[];
  /** RSA modulus size in bits, when known. */
  keySize?: number;
}

export interface CreateKeyVersionOptions {
  rotationId: string;
  expiresOn?: Date;
  /** Defaults: copied from the current version; RSA 2048 with wrapKey/unwrapKey for a new key. */
  kty?: "RSA" | "RSA-HSM" | "EC" | "EC-HSM";
  keySize?: number;
  curve?: "P-256" | "P-384" | "P-521" | "P-256K";
  keyOps?: string[];
  tags?: Record<string, string>;
}

export type WrapAlgorithm = "RSA-OAEP-256" | "A256KW";
export type SigningAlgorithm = "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512";

export interface PublicJwk {
  kty: "RSA" | "EC";
  kid: string;
  use: "sig";
  key_ops: ["verify"];
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

/** What the workflows need from one vault's keys. */
export interface VaultKeys {
  readonly vaultName: string;
  getKey(name: string, version?: string): Promise<KeyVersionInfo>;
  /** Every version's properties, streamed page by page. */
  listVersions(name: string, opts?: { pageSize?: number }): AsyncIterable<KeyVersionInfo>;
  /** Idempotent: a version already tagged with this rotationId is returned instead of creating another. */
  createKeyVersion(name: string, opts: CreateKeyVersionOptions): Promise<{ key: KeyVersionInfo; created: boolean }>;
  updateVersion(name: string, version: string, patch: { enabled?: boolean; keyOps?: string[]; expiresOn?: Date }): Promise<KeyVersionInfo>;
  /** Local for RSA-OAEP-256 (cached public key); remote for A256KW (Managed HSM keys never leave it). */
  wrap(name: string, version: string, dek: Uint8Array, alg?: WrapAlgorithm): Promise<Buffer>;
  /** Always remote. */
  unwrap(name: string, version: string, wrapped: Uint8Array, alg?: WrapAlgorithm): Promise<Buffer>;
  /** Hashes `data` locally, signs the digest in the vault. */
  sign(name: string, version: string, data: Uint8Array, alg?: SigningAlgorithm): Promise<Buffer>;
  /** Local, with the cached public key. */
  verify(name: string, version: string, data: Uint8Array, signature: Uint8Array, alg?: SigningAlgorithm): Promise<boolean>;
  /** JWKS of the given versions (primary first, then the retained ones); kid = version URL. */
  jwks(name: string, versions: string[]): Promise<{ keys: PublicJwk[] }>;
}

export interface SecretVersionInfo {
  id: string;
  name: string;
  version: string;
  enabled: boolean;
  createdOn?: Date;
  expiresOn?: Date;
  contentType?: string;
  tags: Record<string, string>;
}

export interface SetSecretOptions {
  expiresOn?: Date;
  contentType?: string;
  tags?: Record<string, string>;
}

/** What the secret workflow needs from one vault's secrets. Values are returned only by getSecret. */
export interface VaultSecrets {
  readonly vaultName: string;
  setSecret(name: string, value: string, opts?: SetSecretOptions): Promise<SecretVersionInfo>;
  /** Idempotent by rotationId: when the latest version carries it, `generate` is not even called. */
  createSecretVersion(name: string, generate: () => string | Promise<string>, opts: SetSecretOptions & { rotationId: string }): Promise<{ secret: SecretVersionInfo; created: boolean }>;
  getSecret(name: string, version?: string): Promise<{ info: SecretVersionInfo; value: string }>;
  getSecretProperties(name: string, version?: string): Promise<SecretVersionInfo>;
  listSecretVersions(name: string, opts?: { pageSize?: number }): AsyncIterable<SecretVersionInfo>;
  updateSecretVersion(name: string, version: string, patch: { enabled?: boolean; expiresOn?: Date; tags?: Record<string, string> }): Promise<SecretVersionInfo>;
}

export interface KeyVaultAdapterOptions {
  vaultName: string;
  vaultUrl: string;
  credential: TokenCredential;
  clientOptions?: KeyVaultClientOptions;
}

interface CachedVersion {
  key: KeyVaultKey;
  publicKey: KeyObject;
  crypto: CryptographyClient;
}

const HASH_OF: Record<SigningAlgorithm, "sha256" | "sha384" | "sha512"> = {
  RS256: "sha256", RS384: "sha384", RS512: "sha512", PS256: "sha256", PS384: "sha384", PS512: "sha512", ES256: "sha256", ES384: "sha384", ES512: "sha512",
};

export class KeyVaultAdapter implements VaultKeys, VaultSecrets {
  readonly vaultName: string;
  readonly vaultUrl: string;
  readonly keys: KeyClient;
  readonly secrets: SecretClient;
  private readonly credential: TokenCredential;
  private readonly clientOptions: KeyVaultClientOptions;
  /** Version URL → material. A version's key material never changes, so the cache never goes stale
   * for crypto; its properties (enabled, exp) are not read from here. */
  private readonly versions = new Map<string, Promise<CachedVersion>>();

  constructor(opts: KeyVaultAdapterOptions) {
    this.vaultName = opts.vaultName;
    this.vaultUrl = opts.vaultUrl.replace(/\/+$/, "");
    this.credential = opts.credential;
    this.clientOptions = opts.clientOptions ?? {};
    this.keys = new KeyClient(this.vaultUrl, this.credential, this.clientOptions);
    this.secrets = new SecretClient(this.vaultUrl, this.credential, this.clientOptions);
  }

  /** One SDK call, its failure translated with this vault's name (429s are counted per vault). */
  private kv<T>(what: string, call: () => Promise<T>): Promise<T> {
    return kv(what, call, this.vaultName);
  }

  // ---- keys -------------------------------------------------------------------------------------

  async getKey(name: string, version?: string): Promise<KeyVersionInfo> {
    const key = await this.kv(`get key ${name}${version ? `/${version}` : ""}`, () => this.keys.getKey(name, version ? { version } : {}));
    return keyInfo(key);
  }

  async *listVersions(name: string, opts: { pageSize?: number } = {}): AsyncIterable<KeyVersionInfo> {
    try {
      for await (const page of this.keys.listPropertiesOfKeyVersions(name).byPage(opts.pageSize ? { maxPageSize: opts.pageSize } : {})) {
        for (const p of page) yield propertiesInfo(p);
      }
    } catch (err) {
      translateKeyVaultError(err, `list versions of key ${name}`, this.vaultName);
    }
  }

  async createKeyVersion(name: string, opts: CreateKeyVersionOptions): Promise<{ key: KeyVersionInfo; created: boolean }> {
    if (!opts.rotationId) throw new InvalidRequestError("RotationIdMissing", "[keyrotor] [keyvault] createKeyVersion needs a rotationId", { field: "rotationId" });
    // Check before act: the latest version first (the common retry case), then the others, since
    // the retried step may have been overtaken by a version someone created by hand.
    let current: KeyVersionInfo | undefined;
    try {
      current = await this.getKey(name);
    } catch (err) {
      if (!(err instanceof InvalidRequestError && err.status === 404)) throw err;
    }
    if (current?.tags[ROTATION_TAG] === opts.rotationId) return { key: current, created: false };
    if (current) {
      for await (const v of this.listVersions(name)) {
        if (v.tags[ROTATION_TAG] === opts.rotationId) return { key: await this.getKey(name, v.version), created: false };
      }
    }
    const kty = opts.kty ?? (current?.kty as CreateKeyVersionOptions["kty"]) ?? "RSA";
    const isRsa = kty.startsWith("RSA");
    const keyOps = (opts.keyOps ?? current?.keyOps ?? (isRsa ? ["wrapKey", "unwrapKey"] : ["sign", "verify"]));
    const created = await this.kv(`create version of key ${name}`, () =>
      this.keys.createKey(name, kty, {
        keyOps,
        expiresOn: opts.expiresOn,
        tags: { ...opts.tags, [ROTATION_TAG]: opts.rotationId },
        ...(isRsa ? { keySize: opts.keySize ?? current?.keySize ?? 2048 } : { curve: opts.curve ?? "P-256" }),
      }),
    );
    return { key: keyInfo(created), created: true };
  }

  async updateVersion(name: string, version: string, patch: { enabled?: boolean; keyOps?: string[]; expiresOn?: Date }): Promise<KeyVersionInfo> {
    const updated = await this.kv(`update key ${name}/${version}`, () =>
      this.keys.updateKeyProperties(name, version, {
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        ...(patch.keyOps ? { keyOps: patch.keyOps } : {}),
        ...(patch.expiresOn ? { expiresOn: patch.expiresOn } : {}),
      }),
    );
    return keyInfo(updated);
  }

  /** The cached material of one version (one GET per version per process). */
  private material(name: string, version: string): Promise<CachedVersion> {
    if (!version) throw new InvalidRequestError("KeyVersionMissing", `[keyrotor] [keyvault] key ${name}: a crypto operation needs an explicit version`, { field: "version" });
    const cacheKey = `${name}/${version}`;
    let entry = this.versions.get(cacheKey);
    if (!entry) {
      entry = (async () => {
        const key = await this.kv(`get key ${cacheKey}`, () => this.keys.getKey(name, { version }));
        if (!key.key) throw new InvalidRequestError("KeyMaterialMissing", `[keyrotor] [keyvault] key ${cacheKey} came back without public key material`);
        const publicKey = createPublicKey({ key: publicJwkForNode(key.key), format: "jwk" });
        // The SDK refuses any operation on an expired key locally, before asking the vault; but
        // unwrap and verify of expired versions are exactly what a late rewrap needs, and the vault
        // is the one to decide. So the client gets the key without its validity dates.
        const undated: KeyVaultKey = { ...key, properties: { ...key.properties, expiresOn: undefined, notBefore: undefined } };
        return { key, publicKey, crypto: new CryptographyClient(undated, this.credential, this.clientOptions) };
      })();
      this.versions.set(cacheKey, entry);
      entry.catch(() => this.versions.delete(cacheKey));
    }
    return entry;
  }

  async wrap(name: string, version: string, dek: Uint8Array, alg: WrapAlgorithm = "RSA-OAEP-256"): Promise<Buffer> {
    const m = await this.material(name, version);
    if (alg === "RSA-OAEP-256") {
      return publicEncrypt({ key: m.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
    }
    const r = await this.kv(`wrap with ${name}/${version}`, () => m.crypto.wrapKey(alg as KeyWrapAlgorithm, dek));
    return Buffer.from(r.result);
  }

  async unwrap(name: string, version: string, wrapped: Uint8Array, alg: WrapAlgorithm = "RSA-OAEP-256"): Promise<Buffer> {
    const m = await this.material(name, version);
    const r = await this.kv(`unwrap with ${name}/${version}`, () => m.crypto.unwrapKey(alg as KeyWrapAlgorithm, wrapped));
    return Buffer.from(r.result);
  }

  async sign(name: string, version: string, data: Uint8Array, alg: SigningAlgorithm = "RS256"): Promise<Buffer> {
    const m = await this.material(name, version);
    const digest = createHash(HASH_OF[alg]).update(data).digest();
    const r = await this.kv(`sign with ${name}/${version}`, () => m.crypto.sign(alg as SignatureAlgorithm, digest));
    return Buffer.from(r.result);
  }

  async verify(name: string, version: string, data: Uint8Array, signature: Uint8Array, alg: SigningAlgorithm = "RS256"): Promise<boolean> {
    const m = await this.material(name, version);
    const hash = HASH_OF[alg];
    if (alg.startsWith("PS")) {
      return cryptoVerify(hash, data, { key: m.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
    if (alg.startsWith("ES")) return cryptoVerify(hash, data, { key: m.publicKey, dsaEncoding: "ieee-p1363" }, signature);
    return cryptoVerify(hash, data, m.publicKey, signature);
  }

  async jwks(name: string, versions: string[]): Promise<{ keys: PublicJwk[] }> {
    const keys: PublicJwk[] = [];
    for (const version of versions) {
      const m = await this.material(name, version);
      const jwk = m.key.key!;
      const kid = m.key.id ?? `${this.vaultUrl}/keys/${name}/${version}`;
      if (jwk.kty?.startsWith("RSA")) keys.push({ kty: "RSA", kid, use: "sig", key_ops: ["verify"], n: b64u(jwk.n), e: b64u(jwk.e) });
      else keys.push({ kty: "EC", kid, use: "sig", key_ops: ["verify"], crv: jwk.crv, x: b64u(jwk.x), y: b64u(jwk.y) });
    }
    return { keys };
  }

  // ---- secrets ----------------------------------------------------------------------------------

  async setSecret(name: string, value: string, opts: SetSecretOptions = {}): Promise<SecretVersionInfo> {
    const s = await this.kv(`set secret ${name}`, () =>
      this.secrets.setSecret(name, value, { expiresOn: opts.expiresOn, contentType: opts.contentType, tags: opts.tags }),
    );
    return secretInfo(s.properties);
  }

  async createSecretVersion(name: string, generate: () => string | Promise<string>, opts: SetSecretOptions & { rotationId: string }): Promise<{ secret: SecretVersionInfo; created: boolean }> {
    let current: SecretVersionInfo | undefined;
    try {
      current = await this.getSecretProperties(name);
    } catch (err) {
      if (!(err instanceof InvalidRequestError && (err.status === 404 || err.code === "VersionDisabled"))) throw err;
      // Key Vault will not read a disabled newest version (403): its tags come from the listing.
      if (err.code === "VersionDisabled") current = await this.newestSecretVersion(name, opts.rotationId);
    }
    if (current?.tags[ROTATION_TAG] === opts.rotationId) return { secret: current, created: false };
    const secret = await this.setSecret(name, await generate(), { ...opts, tags: { ...opts.tags, [ROTATION_TAG]: opts.rotationId } });
    return { secret, created: true };
  }

  /** The newest version's properties from the listing (createdOn has whole seconds: of versions
   * made in the same second, the one tagged `rotationId` counts as the newest). */
  private async newestSecretVersion(name: string, rotationId: string): Promise<SecretVersionInfo | undefined> {
    let newest: SecretVersionInfo | undefined;
    for await (const v of this.listSecretVersions(name)) {
      const t = v.createdOn?.getTime() ?? 0;
      const n = newest?.createdOn?.getTime() ?? 0;
      if (!newest || t > n || (t === n && v.tags[ROTATION_TAG] === rotationId)) newest = v;
    }
    return newest;
  }

  async getSecret(name: string, version?: string): Promise<{ info: SecretVersionInfo; value: string }> {
    const s = await this.kv(`get secret ${name}${version ? `/${version}` : ""}`, () => this.secrets.getSecret(name, version ? { version } : {}));
    return { info: secretInfo(s.properties), value: s.value ?? "" };
  }

  async getSecretProperties(name: string, version?: string): Promise<SecretVersionInfo> {
    return (await this.getSecret(name, version)).info;
  }

  async *listSecretVersions(name: string, opts: { pageSize?: number } = {}): AsyncIterable<SecretVersionInfo> {
    try {
      for await (const page of this.secrets.listPropertiesOfSecretVersions(name).byPage(opts.pageSize ? { maxPageSize: opts.pageSize } : {})) {
        for (const p of page) yield secretInfo(p);
      }
    } catch (err) {
      translateKeyVaultError(err, `list versions of secret ${name}`, this.vaultName);
    }
  }

  async updateSecretVersion(name: string, version: string, patch: { enabled?: boolean; expiresOn?: Date; tags?: Record<string, string> }): Promise<SecretVersionInfo> {
    const p = await this.kv(`update secret ${name}/${version}`, () =>
      this.secrets.updateSecretProperties(name, version, {
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        ...(patch.expiresOn ? { expiresOn: patch.expiresOn } : {}),
        ...(patch.tags ? { tags: patch.tags } : {}),
      }),
    );
    return secretInfo(p);
  }
}

/** A new adapter for one managed vault, by name. `sdkRetries: 0` gives a caller that paces itself
 * (the rewrap) every 429 to see. */
export function keyVaultFor(cfg: Config, vaultName: string, opts: { sdkRetries?: number } = {}): KeyVaultAdapter {
  const clientOptions = keyVaultClientOptions(cfg);
  if (opts.sdkRetries !== undefined) clientOptions.retryOptions = { maxRetries: opts.sdkRetries };
  return new KeyVaultAdapter({ vaultName, vaultUrl: vaultUrlFor(cfg, vaultName), credential: keyVaultCredential(cfg), clientOptions });
}

/** One adapter per vault for as long as the returned function is kept (a composition keeps it: the
 * adapter's public-key cache is worth keeping), never shared between compositions. */
export function keyVaultsFor(cfg: Config, opts: { sdkRetries?: number } = {}): (vaultName: string) => KeyVaultAdapter {
  const adapters = new Map<string, KeyVaultAdapter>();
  return (vaultName) => {
    const key = vaultName.toLowerCase();
    let adapter = adapters.get(key);
    if (!adapter) {
      adapter = keyVaultFor(cfg, vaultName, opts);
      adapters.set(key, adapter);
    }
    return adapter;
  };
}

// ---- mapping ------------------------------------------------------------------------------------

function keyInfo(key: KeyVaultKey): KeyVersionInfo {
  const info = propertiesInfo(key.properties);
  const n = key.key?.n;
  return {
    ...info,
    kid: key.id ?? info.kid,
    kty: key.keyType ?? key.key?.kty,
    keyOps: key.keyOperations ?? key.key?.keyOps,
    ...(n ? { keySize: modulusBits(n) } : {}),
  };
}

function propertiesInfo(p: KeyProperties): KeyVersionInfo {
  return {
    kid: p.id ?? `${p.vaultUrl}/keys/${p.name}/${p.version ?? ""}`,
    name: p.name,
    version: p.version ?? "",
    enabled: p.enabled ?? true,
    ...(p.createdOn ? { createdOn: p.createdOn } : {}),
    ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}),
    tags: { ...p.tags },
  };
}

function secretInfo(p: SecretProperties): SecretVersionInfo {
  return {
    id: p.id ?? `${p.vaultUrl}/secrets/${p.name}/${p.version ?? ""}`,
    name: p.name,
    version: p.version ?? "",
    enabled: p.enabled ?? true,
    ...(p.createdOn ? { createdOn: p.createdOn } : {}),
    ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}),
    ...(p.contentType ? { contentType: p.contentType } : {}),
    tags: { ...p.tags },
  };
}

function modulusBits(n: Uint8Array): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  const first = n[i] ?? 0;
  return (n.length - i - 1) * 8 + (first === 0 ? 0 : Math.floor(Math.log2(first)) + 1);
}

function b64u(bytes: Uint8Array | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString("base64url") : undefined;
}

const NODE_CURVES: Record<string, string> = { "P-256": "P-256", "P-384": "P-384", "P-521": "P-521", "P-256K": "secp256k1" };

function publicJwkForNode(jwk: JsonWebKey): NodeJwk {
  if (jwk.kty?.startsWith("RSA")) {
    if (!jwk.n || !jwk.e) throw new InvalidRequestError("KeyMaterialMissing", `[keyrotor] [keyvault] RSA key ${jwk.kid ?? ""} has no n/e`);
    return { kty: "RSA", n: b64u(jwk.n), e: b64u(jwk.e) };
  }
  if (jwk.kty?.startsWith("EC")) {
    if (!jwk.x || !jwk.y || !jwk.crv) throw new InvalidRequestError("KeyMaterialMissing", `[keyrotor] [keyvault] EC key ${jwk.kid ?? ""} has no crv/x/y`);
    return { kty: "EC", crv: NODE_CURVES[jwk.crv] ?? jwk.crv, x: b64u(jwk.x), y: b64u(jwk.y) };
  }
  throw new InvalidRequestError("KeyTypeUnsupported", `[keyrotor] [keyvault] key ${jwk.kid ?? ""} of type ${jwk.kty ?? "?"} has no public key to cache`);
}

export { isKeyVaultNotFound };
