import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { DependencyUnavailableError } from "../../../lib/domain/errors";
import { KeyVaultAdapter } from "../../../lib/vault/keyVault";
import { withKeyVaultBackoff } from "../../../lib/vault/retry";
import { cryptoClient, peerCredential, sdkOptions, startTestVault } from "../../support/keyvault";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";

let peer: KeyVaultPeer;
let vault: KeyVaultAdapter;
/** Without SDK retries, as the rewrap uses it: every 429 reaches keyrotor's code. */
let raw: KeyVaultAdapter;

beforeAll(async () => {
  peer = await startTestVault();
  vault = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: sdkOptions(peer) });
  raw = new KeyVaultAdapter({ vaultName: peer.vaultName, vaultUrl: peer.url, credential: peerCredential, clientOptions: { ...sdkOptions(peer), retryOptions: { maxRetries: 0 } } });
});
afterAll(async () => {
  await peer?.stop();
});
beforeEach(() => {
  peer.admin.clearFaults();
  peer.admin.setThrottle(false);
});

const keyName = () => `kek-${randomUUID().slice(0, 8)}`;

describe("KeyVaultAdapter keys", () => {
  it("creates one version per rotationId, however often the step is retried", async () => {
    const name = keyName();
    const expiresOn = new Date(Date.now() + 90 * 86_400_000);
    const first = await vault.createKeyVersion(name, { rotationId: `kek:demo-vault/${name}@2026-Q1`, expiresOn });
    const again = await vault.createKeyVersion(name, { rotationId: `kek:demo-vault/${name}@2026-Q1`, expiresOn });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, key: { version: first.key.version } });
    const versions = [];
    for await (const v of vault.listVersions(name)) versions.push(v);
    expect(versions).toHaveLength(1);
    expect(first.key).toMatchObject({ tags: { rotationId: `kek:demo-vault/${name}@2026-Q1` }, kty: "RSA", keySize: 2048 });
    expect(Math.abs(first.key.expiresOn!.getTime() - expiresOn.getTime())).toBeLessThan(1000);
  });

  it("finds its version by rotationId even when a newer version was created since", async () => {
    const name = keyName();
    const mine = await vault.createKeyVersion(name, { rotationId: "r1" });
    await vault.createKeyVersion(name, { rotationId: "someone-else" });
    const retried = await vault.createKeyVersion(name, { rotationId: "r1" });
    expect(retried).toMatchObject({ created: false, key: { version: mine.key.version } });
  });

  it("a DEK wrapped locally with the cached public key (RSA-OAEP-256) unwraps through the vault", async () => {
    const name = keyName();
    const { key } = await vault.createKeyVersion(name, { rotationId: "r" });
    const dek = randomBytes(32);
    const before = peer.admin.stats().wrapCalls;
    const wrapped = await vault.wrap(name, key.version, dek);
    expect(peer.admin.stats().wrapCalls).toBe(before);
    expect((await vault.unwrap(name, key.version, wrapped)).equals(dek)).toBe(true);
    // and the SDK's own remote unwrap agrees: the local wrap is standard RSA-OAEP-256
    const sdk = await cryptoClient(peer, key.kid).unwrapKey("RSA-OAEP-256", wrapped);
    expect(Buffer.from(sdk.result).equals(dek)).toBe(true);
  });

  it("lists versions page by page", async () => {
    const name = keyName();
    for (let i = 0; i < 5; i++) await vault.createKeyVersion(name, { rotationId: `r${i}` });
    peer.admin.setPageSize(2);
    try {
      const seen = [];
      for await (const v of vault.listVersions(name, { pageSize: 2 })) seen.push(v.tags.rotationId);
      expect(seen.sort()).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    } finally {
      peer.admin.setPageSize(25);
    }
  });

  it("updates a version's enabled flag, key_ops and exp", async () => {
    const name = keyName();
    const { key } = await vault.createKeyVersion(name, { rotationId: "r", kty: "EC", curve: "P-256" });
    const exp = new Date(Date.now() + 86_400_000);
    const updated = await vault.updateVersion(name, key.version, { keyOps: ["verify"], expiresOn: exp, enabled: false });
    expect(updated).toMatchObject({ enabled: false, keyOps: ["verify"] });
  });

  it("signs in the vault and verifies locally; JWKS lists the versions with kid = version URL", async () => {
    const name = keyName();
    const v1 = (await vault.createKeyVersion(name, { rotationId: "r1", kty: "RSA", keySize: 2048, keyOps: ["sign", "verify"] })).key;
    const v2 = (await vault.createKeyVersion(name, { rotationId: "r2" })).key;
    const data = Buffer.from("ledger seal");
    const sig = await vault.sign(name, v2.version, data, "PS256");
    expect(await vault.verify(name, v2.version, data, sig, "PS256")).toBe(true);
    expect(await vault.verify(name, v1.version, data, sig, "PS256")).toBe(false);
    const rs = await vault.sign(name, v1.version, data, "RS256");
    expect(await vault.verify(name, v1.version, data, rs, "RS256")).toBe(true);
    const jwks = await vault.jwks(name, [v2.version, v1.version]);
    expect(jwks.keys.map((k) => k.kid)).toEqual([v2.kid, v1.kid]);
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", use: "sig", key_ops: ["verify"] });
    expect(JSON.stringify(jwks)).not.toMatch(/"d"|"p"|"q"/);
  });

  it("signs with EC keys too (ES256, IEEE P1363 signatures)", async () => {
    const name = keyName();
    const { key } = await vault.createKeyVersion(name, { rotationId: "r", kty: "EC", curve: "P-256" });
    const sig = await vault.sign(name, key.version, Buffer.from("x"), "ES256");
    expect(await vault.verify(name, key.version, Buffer.from("x"), sig, "ES256")).toBe(true);
    expect((await vault.jwks(name, [key.version])).keys[0]).toMatchObject({ kty: "EC", crv: "P-256" });
  });
});

describe("KeyVaultAdapter failures", () => {
  it("surfaces a 429 without Retry-After as DependencyUnavailableError with code Throttled", async () => {
    const name = keyName();
    const { key } = await raw.createKeyVersion(name, { rotationId: "r" });
    const wrapped = await raw.wrap(name, key.version, randomBytes(32));
    peer.admin.failNext("unwrapKey", 1, 429, { code: "Throttled", message: "Request was not processed because too many requests were received." });
    const err = await raw.unwrap(name, key.version, wrapped).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(err).toMatchObject({ dependency: "keyvault", code: "Throttled", retryAfterMs: undefined });
    expect((err as Error).message).toMatch(/\[keyrotor\] \[keyvault\] unwrap/);
  });

  it("gets past a 429 without Retry-After by backing off (the SDK alone would not retry it)", async () => {
    const name = keyName();
    const { key } = await vault.createKeyVersion(name, { rotationId: "r" });
    const dek = randomBytes(32);
    const wrapped = await vault.wrap(name, key.version, dek);
    peer.admin.failNext("unwrapKey", 2, 429, { code: "Throttled" });
    const throttles: string[] = [];
    const got = await withKeyVaultBackoff(() => vault.unwrap(name, key.version, wrapped), {
      sleep: async () => undefined,
      onRetry: (e) => throttles.push(e.code),
    });
    expect(got.equals(dek)).toBe(true);
    expect(throttles).toEqual(["Throttled", "Throttled"]);
  });

  it("reports the peer's own throttling (budget exceeded) as Throttled too", async () => {
    const name = keyName();
    const { key } = await raw.createKeyVersion(name, { rotationId: "r" });
    const wrapped = await raw.wrap(name, key.version, randomBytes(32));
    peer.admin.setThrottle({ ratePerSecond: 1 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => raw.unwrap(name, key.version, wrapped)));
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect(r.reason).toMatchObject({ code: "Throttled" });
  });

  it("maps a missing key to a 404 request error, and access denial to a non-retried error", async () => {
    await expect(vault.getKey(`missing-${randomUUID().slice(0, 6)}`)).rejects.toMatchObject({ code: "KeyNotFound", status: 404 });
    const name = keyName();
    await vault.createKeyVersion(name, { rotationId: "r" });
    peer.admin.failNext("getKey", 1, 403, { code: "Forbidden", message: "Caller is not authorized" });
    await expect(vault.getKey(name)).rejects.toMatchObject({ code: "KeyVaultAccessDenied" });
  });

  it("turns 5xx and dropped connections into transient errors", async () => {
    const name = keyName();
    await vault.createKeyVersion(name, { rotationId: "r" });
    peer.admin.failNext("getKey", 5, 500, { code: "InternalServerError" });
    await expect(raw.getKey(name)).rejects.toBeInstanceOf(DependencyUnavailableError);
    peer.admin.clearFaults();
    peer.admin.dropNext("getKey", 5);
    await expect(raw.getKey(name)).rejects.toBeInstanceOf(DependencyUnavailableError);
  });
});

describe("KeyVaultAdapter secrets", () => {
  it("creates one secret version per rotationId and never generates a value twice", async () => {
    const name = `sec-${randomUUID().slice(0, 8)}`;
    let generated = 0;
    const gen = () => `value-${++generated}`;
    const exp = new Date(Date.now() + 30 * 86_400_000);
    const a = await vault.createSecretVersion(name, gen, { rotationId: "s1", expiresOn: exp, contentType: "text/plain" });
    const b = await vault.createSecretVersion(name, gen, { rotationId: "s1" });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, secret: { version: a.secret.version } });
    expect(generated).toBe(1);
    const got = await vault.getSecret(name);
    expect(got).toMatchObject({ value: "value-1", info: { contentType: "text/plain", tags: { rotationId: "s1" } } });
  });

  it("lists secret versions and disables an old one", async () => {
    const name = `sec-${randomUUID().slice(0, 8)}`;
    const old = await vault.setSecret(name, "one");
    await vault.setSecret(name, "two");
    const versions = [];
    for await (const v of vault.listSecretVersions(name)) versions.push(v.version);
    expect(versions).toHaveLength(2);
    const disabled = await vault.updateSecretVersion(name, old.version, { enabled: false });
    expect(disabled.enabled).toBe(false);
    expect((await vault.getSecret(name)).value).toBe("two");
  });
});
