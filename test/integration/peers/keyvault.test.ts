// Contract of the Key Vault peer, exercised through the real KeyClient, CryptographyClient and
// SecretClient (TLS verified against the peer's CA) in every operation keyrotor uses.
import { constants, createHash, createPublicKey, publicEncrypt, randomBytes, verify as nodeVerify, type JsonWebKey } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RestError } from "@azure/core-rest-pipeline";
import type { KeyVaultKey } from "@azure/keyvault-keys";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { cryptoClient, keyClient, rawRequest, secretClient, startTestVault, restError } from "../../support/keyvault";

let peer: KeyVaultPeer;
let seq = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++seq}`;

beforeAll(async () => {
  peer = await startTestVault();
});
afterAll(async () => {
  await peer.stop();
});

function publicKeyOf(key: KeyVaultKey) {
  const jwk: JsonWebKey = { kty: "RSA", n: Buffer.from(key.key!.n!).toString("base64url"), e: Buffer.from(key.key!.e!).toString("base64url") };
  return createPublicKey({ key: jwk, format: "jwk" });
}

function wrapLocally(key: KeyVaultKey, dek: Buffer): Buffer {
  return publicEncrypt({ key: publicKeyOf(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
}

/** The innererror code of a Key Vault error body (the SDK names it innerError). */
const innerCode = (err: RestError): string | undefined =>
  (err.details as { error?: { innerError?: { code?: string } } } | undefined)?.error?.innerError?.code;

describe("Key Vault peer authentication", () => {
  it("answers a request without a token with 401 and Key Vault's Bearer challenge", async () => {
    const res = await rawRequest(peer, "GET", "/keys?api-version=2025-07-01", { token: false });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]+", resource="https:\/\/vault\.azure\.net"$/);
    expect(res.body.error.code).toBe("Unauthorized");
  });

  it("accepts any bearer token", async () => {
    const res = await rawRequest(peer, "GET", "/keys?api-version=2025-07-01", { token: "anything-at-all" });
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.value)).toBe(true);
  });

  it("accepts the api-versions 7.5, 7.6, 2025-06-01 and 2025-07-01 and refuses others with BadParameter", async () => {
    for (const v of ["7.5", "7.6", "2025-06-01", "2025-07-01"]) {
      expect((await rawRequest(peer, "GET", `/secrets?api-version=${v}`)).status).toBe(200);
    }
    const bad = await rawRequest(peer, "GET", "/secrets?api-version=1999-01-01");
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("BadParameter");
  });
});

describe("Key Vault peer keys", () => {
  it("creates RSA 2048/3072/4096, EC P-256/P-384 and oct-HSM 256 keys with real public material", async () => {
    const kc = keyClient(peer);
    for (const keySize of [2048, 3072, 4096]) {
      const k = await kc.createRsaKey(unique("rsa"), { keySize });
      expect(k.keyType).toBe("RSA");
      expect(k.key!.n!.length * 8).toBe(keySize);
      expect(Buffer.from(k.key!.e!).toString("hex")).toBe("010001");
    }
    const hsm = await kc.createRsaKey(unique("rsahsm"), { keySize: 2048, hsm: true });
    expect(hsm.keyType).toBe("RSA-HSM");
    for (const curve of ["P-256", "P-384"] as const) {
      const k = await kc.createEcKey(unique("ec"), { curve });
      expect(k.key!.crv).toBe(curve);
      expect(k.key!.x!.length).toBe(curve === "P-256" ? 32 : 48);
      expect(k.keyOperations).toEqual(["sign", "verify"]);
    }
    const oct = await kc.createOctKey(unique("oct"), { hsm: true, keySize: 256 });
    expect(oct.keyType).toBe("oct-HSM");
    expect(oct.key!.k).toBeUndefined();
  });

  it("gets the latest version or a given one, and lists keys", async () => {
    const kc = keyClient(peer);
    const name = unique("get");
    const v1 = await kc.createRsaKey(name);
    const v2 = await kc.createRsaKey(name);
    expect((await kc.getKey(name)).properties.version).toBe(v2.properties.version);
    expect((await kc.getKey(name, { version: v1.properties.version! })).key!.n).toEqual(v1.key!.n);
    const names: string[] = [];
    for await (const p of kc.listPropertiesOfKeys()) names.push(p.name);
    expect(names).toContain(name);
    const missing = await restError(kc.getKey(unique("nope")));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe("KeyNotFound");
  });

  it("pages list-versions with nextLink past one page", async () => {
    const kc = keyClient(peer);
    const name = unique("paged");
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await kc.createEcKey(name, { curve: "P-256" })).properties.version!);
    const pages: number[] = [];
    const seen: string[] = [];
    for await (const page of kc.listPropertiesOfKeyVersions(name).byPage({ maxPageSize: 2 })) {
      pages.push(page.length);
      seen.push(...page.map((p) => p.version!));
    }
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual(created);
    // The peer's default page size applies when the client sends no maxresults.
    peer.admin.setPageSize(3);
    try {
      const iterated: string[] = [];
      for await (const p of kc.listPropertiesOfKeyVersions(name)) iterated.push(p.version!);
      expect(iterated).toEqual(created);
      const first = await rawRequest(peer, "GET", `/keys/${name}/versions?api-version=2025-07-01`);
      expect(first.body.value).toHaveLength(3);
      expect(first.body.nextLink).toMatch(new RegExp(`^${peer.url}/keys/${name}/versions\\?`));
    } finally {
      peer.admin.setPageSize(25);
    }
  });

  it("updates enabled, expiry, not-before, key operations and tags of a version", async () => {
    const kc = keyClient(peer);
    const k = await kc.createRsaKey(unique("upd"));
    const expiresOn = new Date(Date.now() + 90 * 86_400_000);
    const notBefore = new Date(Date.now() - 60_000);
    const updated = await kc.updateKeyProperties(k.name, k.properties.version!, {
      enabled: false, expiresOn, notBefore, keyOps: ["wrapKey", "unwrapKey"], tags: { keyrotor: "kek" },
    });
    expect(updated.properties.enabled).toBe(false);
    expect(updated.properties.expiresOn!.getTime()).toBe(Math.floor(expiresOn.getTime() / 1000) * 1000);
    expect(updated.properties.notBefore!.getTime()).toBe(Math.floor(notBefore.getTime() / 1000) * 1000);
    expect(updated.keyOperations).toEqual(["wrapKey", "unwrapKey"]);
    expect(updated.properties.tags).toEqual({ keyrotor: "kek" });
    expect((await kc.getKey(k.name)).properties.enabled).toBe(false);
  });

  it("rotates a key into a new version of the same type and size, with the policy's expiry", async () => {
    const kc = keyClient(peer);
    const k = await kc.createRsaKey(unique("rot"), { keySize: 2048 });
    const policy = await kc.getKeyRotationPolicy(k.name);
    expect(policy.lifetimeActions).toEqual([{ action: "Notify", timeBeforeExpiry: "P30D" }]);
    const set = await kc.updateKeyRotationPolicy(k.name, {
      expiresIn: "P90D",
      lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }, { action: "Notify", timeBeforeExpiry: "P10D" }],
    });
    expect(set.expiresIn).toBe("P90D");
    expect(set.lifetimeActions).toEqual([{ action: "Rotate", timeAfterCreate: "P60D" }, { action: "Notify", timeBeforeExpiry: "P10D" }]);
    expect((await kc.getKeyRotationPolicy(k.name)).lifetimeActions).toHaveLength(2);
    const rotated = await kc.rotateKey(k.name);
    expect(rotated.properties.version).not.toBe(k.properties.version);
    expect(rotated.key!.n!.length).toBe(256);
    expect(Buffer.from(rotated.key!.n!).equals(Buffer.from(k.key!.n!))).toBe(false);
    const created = rotated.properties.createdOn!.getTime();
    expect(rotated.properties.expiresOn!.getTime() - created).toBe(90 * 86_400_000);
    expect((await kc.getKey(k.name)).properties.version).toBe(rotated.properties.version);
  });

  it("soft-deletes, shows the deleted key, refuses the name meanwhile, recovers and purges", async () => {
    const kc = keyClient(peer);
    const name = unique("del");
    const k = await kc.createRsaKey(name);
    const poller = await kc.beginDeleteKey(name, { intervalInMs: 10 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${peer.url}/deletedkeys/${name}`);
    expect(deleted.properties.scheduledPurgeDate!.getTime()).toBeGreaterThan(deleted.properties.deletedOn!.getTime());
    expect((await kc.getDeletedKey(name)).properties.version).toBe(k.properties.version);
    expect((await restError(kc.getKey(name))).statusCode).toBe(404);
    const conflict = await restError(kc.createRsaKey(name));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe("Conflict");
    const recovered = await (await kc.beginRecoverDeletedKey(name, { intervalInMs: 10 })).pollUntilDone();
    expect(recovered.properties.version).toBe(k.properties.version);
    await (await kc.beginDeleteKey(name, { intervalInMs: 10 })).pollUntilDone();
    await kc.purgeDeletedKey(name);
    expect((await restError(kc.getDeletedKey(name))).statusCode).toBe(404);
    await kc.createRsaKey(name);
  });
});

describe("Key Vault peer cryptography", () => {
  it("unwraps through the peer a DEK wrapped locally with the fetched public key (RSA-OAEP-256)", async () => {
    const kc = keyClient(peer);
    const k = await kc.createRsaKey(unique("kek"), { keySize: 2048 });
    const fetched = await kc.getKey(k.name, { version: k.properties.version! });
    const dek = randomBytes(32);
    const wrapped = wrapLocally(fetched, dek);
    const unwrapped = await cryptoClient(peer, fetched.id!).unwrapKey("RSA-OAEP-256", wrapped);
    expect(Buffer.from(unwrapped.result).equals(dek)).toBe(true);
    expect(unwrapped.keyID).toBe(fetched.id);
  });

  it("wraps and unwraps with RSA-OAEP, RSA-OAEP-256 and RSA1_5 and round-trips with the SDK's local wrap", async () => {
    const k = await keyClient(peer).createRsaKey(unique("wrap"));
    const cc = cryptoClient(peer, k.id!);
    for (const alg of ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"] as const) {
      const dek = randomBytes(32);
      const wrapped = await cc.wrapKey(alg, dek);
      expect(wrapped.result.length).toBe(256);
      expect(Buffer.from((await cc.unwrapKey(alg, wrapped.result)).result).equals(dek)).toBe(true);
    }
  });

  it("wraps and unwraps with A256KW on an oct-HSM key", async () => {
    const k = await keyClient(peer).createOctKey(unique("aes"), { hsm: true, keySize: 256 });
    const cc = cryptoClient(peer, k.id!);
    const dek = randomBytes(32);
    const wrapped = await cc.wrapKey("A256KW", dek);
    expect(wrapped.result.length).toBe(40);
    expect(Buffer.from((await cc.unwrapKey("A256KW", wrapped.result)).result).equals(dek)).toBe(true);
    const tampered = Buffer.from(wrapped.result);
    tampered[0] = tampered[0]! ^ 1;
    expect((await restError(cc.unwrapKey("A256KW", tampered))).statusCode).toBe(400);
  });

  it("encrypts and decrypts", async () => {
    const k = await keyClient(peer).createRsaKey(unique("enc"));
    const cc = cryptoClient(peer, k.id!);
    const plaintext = Buffer.from("tenant data key material");
    const enc = await cc.encrypt({ algorithm: "RSA-OAEP-256", plaintext });
    expect(Buffer.from((await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: enc.result })).result).toString()).toBe(plaintext.toString());
  });

  it("signs and verifies RS256, PS256, ES256 and ES384 with signatures node:crypto accepts", async () => {
    const kc = keyClient(peer);
    const rsa = await kc.createRsaKey(unique("sig"));
    const p256 = await kc.createEcKey(unique("es256"), { curve: "P-256" });
    const p384 = await kc.createEcKey(unique("es384"), { curve: "P-384" });
    const message = Buffer.from("jwks payload");
    const cases = [
      { key: rsa, alg: "RS256", hash: "sha256" },
      { key: rsa, alg: "PS256", hash: "sha256" },
      { key: p256, alg: "ES256", hash: "sha256" },
      { key: p384, alg: "ES384", hash: "sha384" },
    ] as const;
    for (const c of cases) {
      const cc = cryptoClient(peer, c.key.id!);
      const digest = createHash(c.hash).update(message).digest();
      const sig = Buffer.from((await cc.sign(c.alg, digest)).result);
      expect((await cc.verify(c.alg, digest, sig)).result).toBe(true);
      const otherDigest = createHash(c.hash).update("other").digest();
      expect((await cc.verify(c.alg, otherDigest, sig)).result).toBe(false);
      const jwk: JsonWebKey = c.key.keyType === "RSA"
        ? { kty: "RSA", n: Buffer.from(c.key.key!.n!).toString("base64url"), e: Buffer.from(c.key.key!.e!).toString("base64url") }
        : { kty: "EC", crv: c.key.key!.crv!, x: Buffer.from(c.key.key!.x!).toString("base64url"), y: Buffer.from(c.key.key!.y!).toString("base64url") };
      const pub = createPublicKey({ key: jwk, format: "jwk" });
      const opts = c.alg.startsWith("PS")
        ? { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : c.alg.startsWith("ES") ? { key: pub, dsaEncoding: "ieee-p1363" as const } : pub;
      expect(nodeVerify(c.hash, message, opts, sig)).toBe(true);
    }
  });

  it("refuses unwrap on a disabled version with 403 Forbidden KeyDisabled, while other versions still work", async () => {
    const kc = keyClient(peer);
    const name = unique("dis");
    const old = await kc.createRsaKey(name);
    const current = await kc.rotateKey(name);
    const dek = randomBytes(32);
    const wrappedOld = wrapLocally(old, dek);
    const wrappedNew = wrapLocally(current, dek);
    await kc.updateKeyProperties(name, old.properties.version!, { enabled: false });
    const err = await restError(cryptoClient(peer, old.id!).unwrapKey("RSA-OAEP-256", wrappedOld));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe("Forbidden");
    expect(err.message).toBe("Operation unwrapKey is not allowed on a disabled key.");
    expect(innerCode(err)).toBe("KeyDisabled");
    expect(Buffer.from((await cryptoClient(peer, current.id!).unwrapKey("RSA-OAEP-256", wrappedNew)).result).equals(dek)).toBe(true);
  });

  it("refuses wrap and sign outside nbf/exp but still unwraps and verifies there", async () => {
    const kc = keyClient(peer);
    const expired = await kc.createRsaKey(unique("exp"), { expiresOn: new Date(Date.now() + 86_400_000) });
    const future = await kc.createRsaKey(unique("nbf"), { notBefore: new Date(Date.now() + 86_400_000) });
    const dek = randomBytes(32);
    const wrappedBefore = await cryptoClient(peer, expired.id!).wrapKey("RSA-OAEP-256", dek);
    peer.admin.advanceTime(2 * 86_400_000);
    try {
      const cc = cryptoClient(peer, expired.id!);
      const err = await restError(cc.wrapKey("RSA-OAEP-256", dek));
      expect([err.statusCode, err.code, innerCode(err)]).toEqual([403, "Forbidden", "KeyExpired"]);
      expect(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", wrappedBefore.result)).result).equals(dek)).toBe(true);
    } finally {
      peer.admin.resetTime();
    }
    // The SDK checks nbf and key_ops itself before sending a sign, so these go over plain HTTPS.
    const digest = createHash("sha256").update("x").digest().toString("base64url");
    const early = await rawRequest(peer, "POST", `${new URL(future.id!).pathname}/sign?api-version=2025-07-01`, { body: { alg: "RS256", value: digest } });
    expect([early.status, early.body.error.code, early.body.error.innererror.code]).toEqual([403, "Forbidden", "KeyNotYetValid"]);
  });

  it("refuses operations missing from key_ops with KeyOperationForbidden", async () => {
    const k = await keyClient(peer).createRsaKey(unique("ops"), { keyOps: ["wrapKey", "unwrapKey"] });
    const digest = createHash("sha256").update("x").digest().toString("base64url");
    const res = await rawRequest(peer, "POST", `${new URL(k.id!).pathname}/sign?api-version=2025-07-01`, { body: { alg: "RS256", value: digest } });
    expect([res.status, res.body.error.code, res.body.error.innererror.code]).toEqual([403, "Forbidden", "KeyOperationForbidden"]);
    expect(res.body.error.message).toBe("Operation sign is not permitted on this key.");
  });
});

describe("Key Vault peer secrets", () => {
  it("sets, gets latest and by version, lists versions and updates properties", async () => {
    const sc = secretClient(peer);
    const name = unique("sec");
    const v1 = await sc.setSecret(name, "first", { contentType: "text/plain", tags: { owner: "keyrotor" } });
    const v2 = await sc.setSecret(name, "second", { expiresOn: new Date(Date.now() + 86_400_000) });
    expect((await sc.getSecret(name)).value).toBe("second");
    const got1 = await sc.getSecret(name, { version: v1.properties.version! });
    expect([got1.value, got1.properties.contentType, got1.properties.tags]).toEqual(["first", "text/plain", { owner: "keyrotor" }]);
    const versions: string[] = [];
    for await (const p of sc.listPropertiesOfSecretVersions(name)) versions.push(p.version!);
    expect(versions).toEqual([v1.properties.version, v2.properties.version]);
    const names: string[] = [];
    for await (const p of sc.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toContain(name);
    const updated = await sc.updateSecretProperties(name, v1.properties.version!, { enabled: false, tags: { state: "retired" } });
    expect([updated.enabled, updated.tags]).toEqual([false, { state: "retired" }]);
    const err = await restError(sc.getSecret(name, { version: v1.properties.version! }));
    expect([err.statusCode, err.code, err.message]).toEqual([403, "Forbidden", "Operation get is not allowed on a disabled secret."]);
    expect((await restError(sc.getSecret(unique("none")))).code).toBe("SecretNotFound");
  });

  it("soft-deletes and recovers a secret", async () => {
    const sc = secretClient(peer);
    const name = unique("secdel");
    await sc.setSecret(name, "value");
    await (await sc.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect((await restError(sc.getSecret(name))).statusCode).toBe(404);
    expect((await sc.getDeletedSecret(name)).name).toBe(name);
    await (await sc.beginRecoverDeletedSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect((await sc.getSecret(name)).value).toBe("value");
  });
});
