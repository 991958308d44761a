// The JWKS port's contract (lib/ports.ts JwksPort): the published document of a signing key, public
// members only, vault names case-insensitive.
import { describe, expect, it } from "vitest";
import { InvariantViolationError } from "../../lib/domain/errors";
import type { JwksDocument, JwksPort } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface JwksFixture {
  jwks: JwksPort;
}

const jwk = (version: string) => ({ kid: `https://contract-vault.vault.azure.net/keys/signer/${version}`, kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", use: "sig" });

export function jwksContract(kind: AdapterKind, adapter: string, fixture: () => Promise<JwksFixture>): void {
  describe(contractTitle("jwks", kind, adapter), () => {
    it("publishes a document and serves it back; nothing is served for a key never published", async () => {
      const { jwks } = await fixture();
      const doc: JwksDocument = { keys: [jwk("v1"), jwk("v2")] };
      expect(await jwks.get("contract-vault", "signer")).toBeUndefined();
      await jwks.put("contract-vault", "signer", doc);
      expect(await jwks.get("contract-vault", "signer")).toEqual(doc);
      expect(await jwks.get("contract-vault", "other")).toBeUndefined();
    });

    it("replaces the whole document on each publication", async () => {
      const { jwks } = await fixture();
      await jwks.put("contract-vault", "signer", { keys: [jwk("v1"), jwk("v2")] });
      await jwks.put("contract-vault", "signer", { keys: [jwk("v3")] });
      expect(await jwks.get("contract-vault", "signer")).toEqual({ keys: [jwk("v3")] });
    });

    it("reads vault names case-insensitively, as Key Vault names them", async () => {
      const { jwks } = await fixture();
      await jwks.put("Contract-Vault", "signer", { keys: [jwk("v1")] });
      expect(await jwks.get("contract-vault", "signer")).toEqual({ keys: [jwk("v1")] });
      expect(await jwks.get("CONTRACT-VAULT", "signer")).toEqual({ keys: [jwk("v1")] });
    });

    it("refuses a document with a private member and keeps the one published before", async () => {
      const { jwks } = await fixture();
      await jwks.put("contract-vault", "signer", { keys: [jwk("v1")] });
      await expect(jwks.put("contract-vault", "signer", { keys: [{ ...jwk("v2"), d: "private" }] })).rejects.toBeInstanceOf(InvariantViolationError);
      expect(await jwks.get("contract-vault", "signer")).toEqual({ keys: [jwk("v1")] });
    });
  });
}
