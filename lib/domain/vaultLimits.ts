// Key Vault's published per-vault service limits (Microsoft's "Azure Key Vault service limits"
// page), in transactions per 10 seconds, and the share of them keyrotor allows itself. Pure data:
// the rewrap orchestrator derives its global budget from here, never from a hard-coded rate.

export type KeyProtection = "software" | "hsm";
/** What a key is, as far as the limits care. `size` for RSA (bits); EC limits do not depend on the curve. */
export type KeyShape = { kty: "RSA"; size: 2048 | 3072 | 4096 } | { kty: "EC" };
export type VaultOperation = "crypto" | "create";

const RSA_LIMITS: Record<2048 | 3072 | 4096, Record<KeyProtection, number>> = {
  2048: { software: 4000, hsm: 2000 },
  3072: { software: 1000, hsm: 500 },
  4096: { software: 500, hsm: 250 },
};
const EC_LIMITS: Record<KeyProtection, number> = { software: 4000, hsm: 2000 };
const CREATE_LIMITS: Record<KeyProtection, number> = { software: 20, hsm: 10 };

/** The window Key Vault counts transactions over. */
export const VAULT_LIMIT_WINDOW_MS = 10_000;

/** Transactions per 10 s one vault accepts for operations on keys of this shape and protection. */
export function vaultLimitPer10s(shape: KeyShape, protection: KeyProtection, op: VaultOperation = "crypto"): number {
  if (op === "create") return CREATE_LIMITS[protection];
  return shape.kty === "RSA" ? RSA_LIMITS[shape.size][protection] : EC_LIMITS[protection];
}

/** Key Vault reports `kty` as RSA / RSA-HSM / EC / EC-HSM; RSA size comes from the modulus length. */
export function keyShapeOf(kty: string, modulusBits?: number): { shape: KeyShape; protection: KeyProtection } {
  const protection: KeyProtection = kty.endsWith("-HSM") ? "hsm" : "software";
  const base = kty.replace(/-HSM$/, "");
  if (base === "EC") return { shape: { kty: "EC" }, protection };
  if (base === "RSA") {
    if (modulusBits === 2048 || modulusBits === 3072 || modulusBits === 4096) return { shape: { kty: "RSA", size: modulusBits }, protection };
    throw new RangeError(`[keyrotor] [vaultLimits] RSA key size ${String(modulusBits)} has no published limit (2048, 3072, 4096)`);
  }
  throw new RangeError(`[keyrotor] [vaultLimits] key type "${kty}" has no published per-vault limit (RSA, RSA-HSM, EC, EC-HSM)`);
}

/** Operations per second keyrotor may spend on one vault: `fraction` (default 80%) of the documented
 * limit, so other callers of the vault (consumer services unwrapping DEKs) keep headroom. */
export function vaultBudgetPerSecond(limitPer10s: number, fraction = 0.8): number {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`[keyrotor] [vaultLimits] budget fraction must be in (0, 1], got ${fraction}`);
  return (limitPer10s * fraction * 1000) / VAULT_LIMIT_WINDOW_MS;
}

/** Least time a rewrap of `dekCount` DEKs can take at `opsPerSecond` (one remote unwrap per DEK;
 * the wrap is local). 1M DEKs on an RSA-2048 software key at 100%: ~2,500 s ≈ 41.7 min. */
export function minimumRewrapSeconds(dekCount: number, opsPerSecond: number): number {
  return dekCount / opsPerSecond;
}
