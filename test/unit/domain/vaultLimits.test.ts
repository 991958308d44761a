import { describe, expect, it } from "vitest";
import { keyShapeOf, minimumRewrapSeconds, vaultBudgetPerSecond, vaultLimitPer10s } from "../../../lib/domain/vaultLimits";

describe("vault limits", () => {
  it("match Microsoft's published per-vault limits by key type and protection", () => {
    expect(vaultLimitPer10s({ kty: "RSA", size: 2048 }, "software")).toBe(4000);
    expect(vaultLimitPer10s({ kty: "RSA", size: 2048 }, "hsm")).toBe(2000);
    expect(vaultLimitPer10s({ kty: "RSA", size: 3072 }, "software")).toBe(1000);
    expect(vaultLimitPer10s({ kty: "RSA", size: 3072 }, "hsm")).toBe(500);
    expect(vaultLimitPer10s({ kty: "RSA", size: 4096 }, "software")).toBe(500);
    expect(vaultLimitPer10s({ kty: "RSA", size: 4096 }, "hsm")).toBe(250);
    expect(vaultLimitPer10s({ kty: "EC" }, "software")).toBe(4000);
    expect(vaultLimitPer10s({ kty: "EC" }, "hsm")).toBe(2000);
    expect(vaultLimitPer10s({ kty: "RSA", size: 2048 }, "software", "create")).toBe(20);
    expect(vaultLimitPer10s({ kty: "EC" }, "hsm", "create")).toBe(10);
  });

  it("reads shape and protection from Key Vault's kty and the modulus size", () => {
    expect(keyShapeOf("RSA-HSM", 3072)).toEqual({ shape: { kty: "RSA", size: 3072 }, protection: "hsm" });
    expect(keyShapeOf("EC")).toEqual({ shape: { kty: "EC" }, protection: "software" });
    expect(() => keyShapeOf("RSA", 1024)).toThrow(/no published limit/);
    expect(() => keyShapeOf("oct-HSM")).toThrow(/no published per-vault limit/);
  });

  it("budgets 80% of the limit by default, per second", () => {
    expect(vaultBudgetPerSecond(4000)).toBe(320);
    expect(vaultBudgetPerSecond(4000, 1)).toBe(400);
    expect(() => vaultBudgetPerSecond(4000, 0)).toThrow(/fraction/);
  });

  it("puts a million-DEK rewrap on one RSA-2048 software vault at about 41.7 minutes", () => {
    expect(minimumRewrapSeconds(1_000_000, vaultBudgetPerSecond(4000, 1)) / 60).toBeCloseTo(41.67, 1);
  });
});
