// The Key Vault peer's broken versions, as the real SDK clients see them: a version that exists and
// lists like any other but whose unwrap, sign or secret read fails or answers wrong bytes. The
// validation gates are tested against these (test/e2e/validation).
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { cryptoClient, keyClient, rawRequest, restError, secretClient, startTestVault } from "../../support/keyvault";

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
  peer.admin.clearFaults();
});

async function wrapLocally(kc: ReturnType<typeof keyClient>, name: string, version: string, plain: Buffer): Promise<Buffer> {
  const k = await kc.getKey(name, { version });
  const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(k.key!.n!).toString("base64url"), e: Buffer.from(k.key!.e!).toString("base64url") }, format: "jwk" });
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, plain);
}

describe("Key Vault peer broken versions", () => {
  it("corrupts the unwrap of the next version created, and only of that version", async () => {
    const kc = keyClient(peer);
    const name = unique("kek");
    const v1 = (await kc.createRsaKey(name, { keySize: 2048 })).properties.version!;
    peer.admin.breakVersion({ object: "key", name, operations: ["unwrapKey"], mode: "corrupt" });
    const v2 = (await kc.createRsaKey(name, { keySize: 2048 })).properties.version!;
    const probe = randomBytes(32);
    for (const [version, works] of [[v1, true], [v2, false]] as const) {
      const wrapped = await wrapLocally(kc, name, version, probe);
      const r = await cryptoClient(peer, `${peer.url}/keys/${name}/${version}`).unwrapKey("RSA-OAEP-256", wrapped);
      expect(Buffer.from(r.result).equals(probe), version).toBe(works);
    }
    // Listing shows nothing unusual: the version is enabled and looks like any other.
    const listed = [];
    for await (const p of kc.listPropertiesOfKeyVersions(name)) listed.push({ version: p.version, enabled: p.enabled });
    expect(listed).toEqual(expect.arrayContaining([{ version: v2, enabled: true }]));
  });

  it("fails a named version's sign with the chosen status while its verify still works", async () => {
    const kc = keyClient(peer);
    const name = unique("sig");
    const v1 = (await kc.createEcKey(name, { curve: "P-256" })).properties.version!;
    peer.admin.breakVersion({ object: "key", name, version: v1, operations: ["sign"], status: 403, code: "Forbidden" });
    const cc = cryptoClient(peer, `${peer.url}/keys/${name}/${v1}`);
    const err = await restError(cc.sign("ES256", randomBytes(32)));
    expect([err.statusCode, err.code]).toEqual([403, "Forbidden"]);
    peer.admin.clearFaults();
    const digest = randomBytes(32);
    const sig = await cc.sign("ES256", digest);
    expect((await cc.verify("ES256", digest, sig.result)).result).toBe(true);
  });

  it("answers a broken secret version's read with an altered value of the same shape, and the latest read too", async () => {
    const sc = secretClient(peer);
    const name = unique("sec");
    await sc.setSecret(name, "abc123XYZ");
    await rawRequest(peer, "POST", "/admin/broken-versions", { body: { object: "secret", name, operations: ["getSecret"], mode: "corrupt" } });
    const v2 = await sc.setSecret(name, "abc123XYZ");
    const byVersion = await sc.getSecret(name, { version: v2.properties.version! });
    expect(byVersion.value).toBe("bcd234YZA");
    expect((await sc.getSecret(name)).value).toBe("bcd234YZA");
  });

  it("breaks a version after it answered afterCalls calls normally (passed a check, failed later)", async () => {
    const kc = keyClient(peer);
    const name = unique("late");
    const v1 = (await kc.createRsaKey(name, { keySize: 2048 })).properties.version!;
    peer.admin.breakVersion({ object: "key", name, version: v1, operations: ["unwrapKey"], afterCalls: 1, status: 400, code: "BadParameter" });
    const probe = randomBytes(32);
    const wrapped = await wrapLocally(kc, name, v1, probe);
    const cc = cryptoClient(peer, `${peer.url}/keys/${name}/${v1}`);
    expect(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", wrapped)).result).equals(probe)).toBe(true);
    const err = await restError(cc.unwrapKey("RSA-OAEP-256", wrapped));
    expect([err.statusCode, err.code]).toEqual([400, "BadParameter"]);
  });

  it("refuses an operation that does not read a version with 400", async () => {
    const r = await rawRequest(peer, "POST", "/admin/broken-versions", { body: { object: "key", name: "x", operations: ["createKey"] } });
    expect(r.status).toBe(400);
  });
});
