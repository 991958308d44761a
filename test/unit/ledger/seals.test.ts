import { describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { nodeSealSigner, sealRoot } from "../../../lib/ledger";

const digest = Buffer.alloc(32, 7);

describe("seal signers", () => {
  for (const [alg, pair] of [
    ["ES256", () => generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ["ES384", () => generateKeyPairSync("ec", { namedCurve: "P-384" })],
    ["RS256", () => generateKeyPairSync("rsa", { modulusLength: 2048 })],
  ] as const) {
    it(`${alg}: a signature verifies, and fails on another digest or kid`, async () => {
      const signer = nodeSealSigner({ kid: "k1", privateKey: pair().privateKey });
      expect(signer.alg).toBe(alg);
      const sig = await signer.sign(digest);
      expect(await signer.verify(digest, sig, "k1", alg)).toBe(true);
      expect(await signer.verify(Buffer.alloc(32, 8), sig, "k1", alg)).toBe(false);
      expect(await signer.verify(digest, sig, "k0", alg)).toBe(false);
      expect(await signer.verify(digest, sig, "k1", "none")).toBe(false);
    });
  }

  it("verifies seals of an earlier key it is told to trust", async () => {
    const old = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const sig = await nodeSealSigner({ kid: "k1", privateKey: old.privateKey }).sign(digest);
    const current = nodeSealSigner({ kid: "k2", privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, trusted: { k1: old.publicKey } });
    expect(await current.verify(digest, sig, "k1", "ES256")).toBe(true);
  });

  it("the seal root does not depend on the order heads are listed in", () => {
    const a = { keyId: "a", seq: 1, hash: "x" }, b = { keyId: "b", seq: 2, hash: "y" };
    expect(sealRoot([a, b])).toBe(sealRoot([b, a]));
    expect(sealRoot([a, b])).not.toBe(sealRoot([a, { ...b, seq: 3 }]));
  });
});
