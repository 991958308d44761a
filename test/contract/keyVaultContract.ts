// The Key Vault port's contract (lib/ports.ts KeyVaultPort): idempotent version creation by
// rotationId, local wrap / remote unwrap, disabled versions refused, public keys only, secrets.
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../lib/domain/errors";
import type { KeyVaultPort } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface KeyVaultFixture {
  vault: KeyVaultPort;
  vaultName: string;
  /** A key made outside keyrotor (its first version carries no rotationId); returns the version. */
  seedKey: (name: string, purpose: "wrap" | "sign") => Promise<string>;
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];
const fresh = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

export function keyVaultContract(kind: AdapterKind, adapter: string, fixture: () => Promise<KeyVaultFixture>): void {
  describe(contractTitle("keyVault", kind, adapter), () => {
    it("creates one version per rotationId, tagged with it and enabled, however often the step is retried", async () => {
      const { vault, vaultName, seedKey } = await fixture();
      const name = fresh("kek");
      const v1 = await seedKey(name, "wrap");
      const made = await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" });
      expect(made.reused).toBe(false);
      expect(made.version).not.toBe(v1);
      expect(await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" })).toEqual({ version: made.version, reused: true });
      const versions = await vault.listKeyVersions(vaultName, name);
      expect(versions.map((v) => v.version).sort()).toEqual([v1, made.version].sort());
      expect(versions.find((v) => v.version === made.version)).toMatchObject({ enabled: true, tags: { rotationId: "r1" } });
    });

    it("finds its version by rotationId even when a newer version was created since", async () => {
      const { vault, vaultName, seedKey } = await fixture();
      const name = fresh("kek");
      await seedKey(name, "wrap");
      const mine = await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" });
      await vault.createKeyVersion(vaultName, name, { rotationId: "someone-else", purpose: "wrap" });
      expect(await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" })).toEqual({ version: mine.version, reused: true });
      expect(await vault.listKeyVersions(vaultName, name)).toHaveLength(3);
    });

    it("unwraps remotely what it wraps locally, under the version named", async () => {
      const { vault, vaultName, seedKey } = await fixture();
      const name = fresh("kek");
      const v1 = await seedKey(name, "wrap");
      const v2 = (await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" })).version;
      const dek = randomBytes(32);
      const wrapped = await vault.wrapKey(vaultName, name, v1, dek);
      expect((await vault.unwrapKey(vaultName, name, v1, wrapped)).equals(dek)).toBe(true);
      await expect(vault.unwrapKey(vaultName, name, v2, wrapped)).rejects.toBeInstanceOf(InvalidRequestError);
    });

    it("refuses to unwrap under a disabled version (InvalidRequestError) and lists it disabled; other versions still work", async () => {
      const { vault, vaultName, seedKey } = await fixture();
      const name = fresh("kek");
      const v1 = await seedKey(name, "wrap");
      const v2 = (await vault.createKeyVersion(vaultName, name, { rotationId: "r1", purpose: "wrap" })).version;
      const dek = randomBytes(32);
      const old = await vault.wrapKey(vaultName, name, v1, dek);
      const current = await vault.wrapKey(vaultName, name, v2, dek);
      await vault.updateKeyVersion(vaultName, name, v1, { enabled: false });
      await expect(vault.unwrapKey(vaultName, name, v1, old)).rejects.toBeInstanceOf(InvalidRequestError);
      expect((await vault.listKeyVersions(vaultName, name)).find((v) => v.version === v1)?.enabled).toBe(false);
      expect((await vault.unwrapKey(vaultName, name, v2, current)).equals(dek)).toBe(true);
    });

    it("gives a version's public JWK, named by the versioned key URL, with no private member", async () => {
      const { vault, vaultName, seedKey } = await fixture();
      const name = fresh("signer");
      const v1 = await seedKey(name, "sign");
      const jwk = await vault.publicJwk(vaultName, name, v1);
      expect(jwk.kid).toMatch(new RegExp(`/keys/${name}/${v1}$`));
      expect(jwk.kty).toBe("EC");
      expect(PRIVATE_MEMBERS.filter((m) => jwk[m] !== undefined)).toEqual([]);
    });

    it("sets a secret version per rotationId (a retry reuses it), lists versions with tags and disables one", async () => {
      const { vault, vaultName } = await fixture();
      const name = fresh("webhook");
      const first = await vault.setSecret(vaultName, name, "value-1", { rotationId: "r1" });
      expect(first.reused).toBe(false);
      expect(await vault.setSecret(vaultName, name, "value-1-again", { rotationId: "r1" })).toEqual({ version: first.version, reused: true });
      const second = await vault.setSecret(vaultName, name, "value-2", { rotationId: "r2", slot: "key2" });
      const versions = await vault.listSecretVersions(vaultName, name);
      expect(versions.map((v) => v.version).sort()).toEqual([first.version, second.version].sort());
      expect(versions.find((v) => v.version === second.version)).toMatchObject({ enabled: true, tags: { rotationId: "r2", slot: "key2" } });
      await vault.updateSecretVersion(vaultName, name, first.version, { enabled: false });
      expect((await vault.listSecretVersions(vaultName, name)).find((v) => v.version === first.version)?.enabled).toBe(false);
    });
  });
}
