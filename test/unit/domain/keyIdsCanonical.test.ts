import { describe, expect, it } from "vitest";
import { InvalidRequestError, RotationConflictError } from "../../../lib/domain/errors";
import { canonicalKeyId, checkCanonicalKeyId, parseKeyId, sameObjectKeyIds, vaultObjectOf, vaultObjectTaken } from "../../../lib/domain/keys";

describe("canonical keyIds: vault and object names are case-insensitive in Key Vault", () => {
  it("maps every spelling of a vault object's keyId to one, lower-case keyId", () => {
    for (const spelling of ["kek:Demo-Vault/Orders-KEK", "KEK:demo-vault/orders-kek", "Kek:DEMO-VAULT/ORDERS-KEK", "kek:demo-vault/orders-kek"]) {
      expect(canonicalKeyId(spelling)).toBe("kek:demo-vault/orders-kek");
    }
    expect(parseKeyId("Signing:Demo-Vault/Token")).toEqual({ kind: "signing", vault: "demo-vault", name: "token" });
  });
  it("keeps a DEK's tenant as given: it is keyrotor's own id, not a vault name", () => {
    expect(canonicalKeyId("DEK:Contoso")).toBe("dek:Contoso");
    expect(vaultObjectOf("dek:Contoso")).toBeUndefined();
    expect(sameObjectKeyIds("dek:Contoso")).toEqual(["dek:Contoso"]);
  });
  it("names one vault object for every kind and spelling of it", () => {
    expect(vaultObjectOf("signing:Demo-Vault/Orders-KEK")).toBe("demo-vault/orders-kek");
    expect(sameObjectKeyIds("kek:Demo-Vault/Orders-KEK")).toEqual(["kek:demo-vault/orders-kek", "signing:demo-vault/orders-kek", "secret:demo-vault/orders-kek"]);
  });
  it("refuses a keyId in other than canonical spelling where one is stored, naming the field and the canonical form", () => {
    expect(() => checkCanonicalKeyId("kek:demo-vault/orders-kek")).not.toThrow();
    const err = (() => { try { checkCanonicalKeyId("kek:Demo-Vault/Orders"); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ code: "KeyIdNotCanonical", field: "keyId" });
    expect((err as Error).message).toContain("kek:demo-vault/orders");
  });
  it("still refuses what is not a keyId at all", () => {
    expect(() => canonicalKeyId("kek:demo-vault")).toThrow(InvalidRequestError);
    expect(() => canonicalKeyId("vault:demo-vault/x")).toThrow(InvalidRequestError);
  });
  it("a taken vault object is a conflict naming the keyId that manages it", () => {
    const err = vaultObjectTaken("demo-vault/orders-kek", "kek:demo-vault/orders-kek", "signing:demo-vault/orders-kek");
    expect(err).toBeInstanceOf(RotationConflictError);
    expect(err.message).toContain("kek:demo-vault/orders-kek");
  });
});
