// The Key Vault peer's failure modes as the real SDK clients see them: throttling (429 Throttled
// without Retry-After) and injected faults (status, latency, dropped connections).
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
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
beforeEach(() => {
  peer.admin.setThrottle(false);
  peer.admin.clearFaults();
  peer.admin.resetStats();
});

describe("Key Vault peer throttling", () => {
  it("is off by default", async () => {
    const sc = secretClient(peer);
    const name = unique("free");
    await sc.setSecret(name, "v");
    await Promise.all(Array.from({ length: 50 }, () => sc.getSecret(name)));
    expect(peer.admin.stats().throttled429).toBe(0);
  });

  it("answers over the limit with 429 Throttled and no Retry-After, which reaches the SDK caller", async () => {
    const sc = secretClient(peer);
    const name = unique("thr");
    await sc.setSecret(name, "v");
    peer.admin.setThrottle({ ratePerSecond: 0.01 });
    await sc.getSecret(name);
    const err = await restError(sc.getSecret(name));
    expect([err.statusCode, err.code]).toEqual([429, "Throttled"]);
    const raw = await rawRequest(peer, "GET", `/secrets/${name}?api-version=2025-07-01`);
    expect(raw.status).toBe(429);
    expect(raw.body.error.code).toBe("Throttled");
    expect(raw.headers["retry-after"]).toBeUndefined();
    expect(raw.headers["retry-after-ms"]).toBeUndefined();
    expect(raw.headers["x-ms-retry-after-ms"]).toBeUndefined();
    expect(peer.admin.stats().throttled429).toBe(2);
  });

  it("weighs operations by key type: one RSA-3072 operation spends what four RSA-2048 ones do", async () => {
    const kc = keyClient(peer);
    const small = await kc.createRsaKey(unique("w2048"));
    const big = await kc.createRsaKey(unique("w3072"), { keySize: 3072 });
    peer.admin.setThrottle({ limits: { rsa2048: 4, rsa3072: 1 } });
    const get = (id: string) => rawRequest(peer, "GET", `${new URL(id).pathname}?api-version=2025-07-01`);
    expect((await get(big.id!)).status).toBe(200);
    expect((await get(small.id!)).status).toBe(429);
    peer.admin.setThrottle({ limits: { rsa2048: 4, rsa3072: 1 } });
    const smalls = [];
    for (let i = 0; i < 4; i++) smalls.push((await get(small.id!)).status);
    expect(smalls).toEqual([200, 200, 200, 200]);
    expect((await get(big.id!)).status).toBe(429);
  });

  it("limits key creation separately (CREATE transactions)", async () => {
    const kc = keyClient(peer);
    peer.admin.setThrottle({ limits: { create: 2 } });
    await kc.createEcKey(unique("c"));
    await kc.createEcKey(unique("c"));
    const err = await restError(kc.createEcKey(unique("c")));
    expect([err.statusCode, err.code]).toEqual([429, "Throttled"]);
    // Other transactions draw from other buckets.
    const sc = secretClient(peer);
    await sc.setSecret(unique("s"), "still fine");
  });

  it("does not count rejected requests against the limit", async () => {
    const sc = secretClient(peer);
    const name = unique("rej");
    await sc.setSecret(name, "v");
    peer.admin.setThrottle({ limits: { secrets: 2 } });
    await sc.getSecret(name);
    await sc.getSecret(name);
    for (let i = 0; i < 3; i++) expect((await restError(sc.getSecret(name))).statusCode).toBe(429);
    expect(peer.admin.stats().calls.getSecret).toBe(5);
    expect(peer.admin.stats().throttled429).toBe(3);
  });
});

describe("Key Vault peer fault injection", () => {
  it("fails the next N calls of an operation with the given status and Key Vault error body", async () => {
    const kc = keyClient(peer);
    const k = await kc.createRsaKey(unique("f"));
    const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(k.key!.n!).toString("base64url"), e: Buffer.from(k.key!.e!).toString("base64url") }, format: "jwk" });
    const dek = randomBytes(32);
    const wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
    const cc = cryptoClient(peer, k.id!);
    peer.admin.failNext("unwrapKey", 2, 403, { code: "Forbidden", message: "injected" });
    for (let i = 0; i < 2; i++) {
      const err = await restError(cc.unwrapKey("RSA-OAEP-256", wrapped));
      expect([err.statusCode, err.code, err.message]).toEqual([403, "Forbidden", "injected"]);
    }
    expect(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", wrapped)).result).equals(dek)).toBe(true);
    const stats = peer.admin.stats();
    expect([stats.unwrapCalls, stats.faultsInjected]).toEqual([3, 2]);
  });

  it("lets the SDK's retry policy absorb a single 503", async () => {
    const sc = secretClient(peer);
    const name = unique("r503");
    await sc.setSecret(name, "v");
    peer.admin.failNext("getSecret", 1, 503);
    expect((await sc.getSecret(name)).value).toBe("v");
    expect(peer.admin.stats().calls.getSecret).toBe(2);
  });

  it("drops connections without a response", async () => {
    const sc = secretClient(peer);
    const name = unique("drop");
    await sc.setSecret(name, "v");
    peer.admin.dropNext("getSecret", 1);
    await expect(rawRequest(peer, "GET", `/secrets/${name}?api-version=2025-07-01`)).rejects.toThrow(/socket hang up|ECONNRESET/);
    peer.admin.dropNext("getSecret", 1);
    // The SDK retries a reset connection.
    expect((await sc.getSecret(name)).value).toBe("v");
    expect(peer.admin.stats().droppedConnections).toBe(2);
  });

  it("adds latency to an operation", async () => {
    const sc = secretClient(peer);
    const name = unique("slow");
    await sc.setSecret(name, "v");
    peer.admin.setLatency("getSecret", 300);
    const started = performance.now();
    await sc.getSecret(name);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("is driven over HTTP under /admin as well", async () => {
    const sc = secretClient(peer);
    const name = unique("http");
    await sc.setSecret(name, "v");
    const set = await rawRequest(peer, "POST", "/admin/faults", { body: { operation: "getSecret", count: 1, status: 404, code: "SecretNotFound" }, token: false });
    expect(set.status).toBe(204);
    expect((await restError(sc.getSecret(name))).code).toBe("SecretNotFound");
    const stats = await rawRequest(peer, "GET", "/admin/stats", { token: false });
    expect(stats.body.faultsInjected).toBe(1);
    const bad = await rawRequest(peer, "POST", "/admin/faults", { body: { operation: "noSuchOp", count: 1, status: 500 }, token: false });
    expect(bad.status).toBe(400);
    await rawRequest(peer, "PUT", "/admin/throttle", { body: { ratePerSecond: 0.01 }, token: false });
    await sc.getSecret(name);
    expect((await restError(sc.getSecret(name))).statusCode).toBe(429);
    await rawRequest(peer, "PUT", "/admin/throttle", { body: false, token: false });
    expect((await sc.getSecret(name)).value).toBe("v");
  });
});
