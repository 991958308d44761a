// What the rewrap activity needs: the DEK port (lib/ports.ts DekPort, the rotation's own) and one
// KEK's crypto, with adapters:
// - the real ones: the DEK table (ranged scans that skip DEKs already under the target, ≤100-entity
//   If-Match transactions with 412 re-read) and lib/vault/keyVault.ts with the SDK's retries off
//   (sdkRetries: 0), so every 429 reaches the activity's own pacing;
// - over the rotation engine's ports (RotationDeps), so the memory adapters of the workflow tests serve too.
// The composition root (lib/compose.ts) builds the real ones with realRewrapDeps(cfg).
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../config";
import { parseKeyId } from "../../domain/keys";
import { InvalidRequestError, type InvariantViolationError } from "../../domain/errors";
import type { DekWrap, StoredDek } from "../../envelope/dekRecord";
import type { FlatDekAuth } from "../../envelope/flatDekAuth";
import { keyVaultsFor, type KeyVaultAdapter } from "../../vault/keyVault";
import { TableFenceStore } from "../../stores/fenceStore";
import { tableClient } from "../../stores/tables";
import type { FenceStore } from "../fence";
import type { DekPort } from "../../ports";
import type { RotationDeps } from "../ports";
import { TableDekPort } from "../tableDeks";
import { flatDekAuthFrom } from "../flatDekAuthFrom";
import { createLogger } from "../../telemetry/log";

export type RewrapTarget = DekWrap;

/** One KEK's crypto: unwrap remote (429 → DependencyUnavailableError code Throttled), wrap local. */
export interface RewrapVault {
  unwrap(version: string, wrapped: Uint8Array): Promise<Buffer>;
  wrap(version: string, plaintext: Uint8Array): Promise<Buffer>;
  /** Key type as Key Vault names it (RSA, RSA-HSM, ...) and the RSA modulus size. */
  shape(version: string): Promise<{ kty: string; bits?: number }>;
}

export interface RewrapDeps {
  /** The DEK table (lib/ports.ts DekPort): the rotation's own DEK port. */
  deks: DekPort;
  vaultFor(kekKeyId: string): RewrapVault;
  /** Share of the vault's documented limit a rewrap may use (KEYROTOR_VAULT_BUDGET_FRACTION). */
  budgetFraction: number;
  /** Overrides the documented limit (transactions per 10 s), e.g. a vault with a known lower limit
   * or the local peer's throttle; 0 = no limit known (unpaced). */
  vaultLimitPer10s?: number;
  /** DEKs one range activity rewraps at most (KEYROTOR_REWRAP_BATCH_SIZE); a rotation's own
   * smaller batch wins. */
  dekBatch?: number;
  /** The keys' fence rows (lib/orchestration/fence.ts): a fenced range reads its key's row before
   * each batch it commits, so a range still running after a take-over stops writing at its next
   * batch. Absent (a bench's own wiring) = checked only when the activity starts (handlers.ts). */
  fences?: FenceStore;
  /** How DEK rows are authenticated before they are re-wrapped (lib/envelope/flatDekAuth.ts): the
   * signing key, whether unsigned rows are refused. Absent = UNVERIFIED_FLAT_DEKS (legacy rows
   * re-wrapped, signed ones refused: nothing here could verify them). */
  flatAuth?: FlatDekAuth;
  /** Told of each row refused (code FlatDek*), for the log; the range's result counts them. */
  onRefused?(dek: StoredDek, err: InvariantViolationError): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

const runtime = { now: () => Date.now(), sleep: (ms: number) => sleep(ms).then(() => undefined), random: () => Math.random() };

function vaultAndName(kekKeyId: string): { vault: string; name: string } {
  const p = parseKeyId(kekKeyId);
  if (p.kind !== "kek" || !p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [rewrap] ${kekKeyId} is not a KEK (kek:<vault>/<key>)`);
  return { vault: p.vault, name: p.name };
}

// ---- real adapters ------------------------------------------------------------------------------

export function keyVaultRewrapVault(vaultFor: (vault: string) => KeyVaultAdapter): (kekKeyId: string) => RewrapVault {
  return (kekKeyId) => {
    const { vault, name } = vaultAndName(kekKeyId);
    const adapter = vaultFor(vault);
    return {
      unwrap: (version, wrapped) => adapter.unwrap(name, version, wrapped),
      wrap: (version, plaintext) => adapter.wrap(name, version, plaintext),
      async shape(version) {
        const k = await adapter.getKey(name, version);
        return { kty: k.kty ?? "RSA", ...(k.keySize ? { bits: k.keySize } : {}) };
      },
    };
  };
}

/** The production wiring: the DEK table and Key Vault with SDK retries off. */
export function realRewrapDeps(cfg: Config, opts: { vaultLimitPer10s?: number } = {}): RewrapDeps {
  return {
    deks: new TableDekPort(tableClient(cfg, "deks")),
    vaultFor: keyVaultRewrapVault(keyVaultsFor(cfg, { sdkRetries: 0 })),
    budgetFraction: cfg.KEYROTOR_VAULT_BUDGET_FRACTION,
    dekBatch: cfg.KEYROTOR_REWRAP_BATCH_SIZE,
    fences: new TableFenceStore(tableClient(cfg, "locks")),
    flatAuth: flatDekAuthFrom(cfg, keyVaultsFor(cfg)),
    onRefused: (dek, err) => createLogger("rewrap").warn(`DEK ${dek.tenant}/${dek.dekId} refused, not re-wrapped (left under ${dek.kekVersion}): ${err.message}`.slice(0, 500), { keyId: dek.kekKeyId, errorCode: err.code }),
    ...(opts.vaultLimitPer10s !== undefined ? { vaultLimitPer10s: opts.vaultLimitPer10s } : {}),
    ...runtime,
  };
}

// ---- over the rotation engine's ports -----------------------------------------------------------

/** The rotation ports (memory adapters in the workflow tests): their DEK port is used as it is, the
 * vault through the KeyVaultPort. The caller declares the vault's limit: 0 for an in-memory vault
 * (unpaced), none for Key Vault (its documented limit). */
export function fromRotationDeps(deps: RotationDeps, opts: { budgetFraction?: number; vaultLimitPer10s?: number } = {}): RewrapDeps {
  return {
    deks: deps.deks,
    vaultFor(kekKeyId) {
      const { vault, name } = vaultAndName(kekKeyId);
      return {
        unwrap: (version, wrapped) => deps.vault.unwrapKey(vault, name, version, Buffer.from(wrapped)),
        wrap: (version, plaintext) => deps.vault.wrapKey(vault, name, version, Buffer.from(plaintext)),
        async shape(version) {
          const jwk = await deps.vault.publicJwk(vault, name, version);
          const n = typeof jwk.n === "string" ? Buffer.from(jwk.n, "base64url") : undefined;
          return { kty: jwk.kty, ...(n ? { bits: modulusBits(n) } : {}) };
        },
      };
    },
    budgetFraction: opts.budgetFraction ?? 0.8,
    fences: deps.fences,
    ...(deps.flatDekAuth ? { flatAuth: deps.flatDekAuth } : {}),
    ...(opts.vaultLimitPer10s !== undefined ? { vaultLimitPer10s: opts.vaultLimitPer10s } : {}),
    ...runtime,
  };
}

function modulusBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  const first = n[i] ?? 0;
  return (n.length - i - 1) * 8 + (first === 0 ? 0 : Math.floor(Math.log2(first)) + 1);
}
