// Composition roots for the rotation activities: createRotationDeps(cfg) builds the real adapters
// from configuration; memoryRotationDeps() builds in-memory ones for tests. Function handlers reach
// the process-wide instance through rotationDeps(); hosts and tests may install their own.
import { config, type Config } from "../config";
import { InvalidRequestError } from "../domain/errors";
import { ephemeralSealSigner, memoryLedger, tableLedger, type HashChainLedger } from "../ledger";
import { systemClock, type Clock } from "../ports";
import { ensureTable, tableClient } from "../stores/tables";
import { keyVaultFor, type KeyVaultAdapter } from "../vault/keyVault";
import {
  MemoryDekStore, MemoryEvents, MemoryInventory, MemoryJwks, MemoryKeyVault, MemoryPolicies,
} from "./memory";
import type { PublicJwk, RotationDeps, RotationKeyVault, VaultVersion } from "./ports";
import { secretGenerators } from "./secrets";

export type * from "./ports";

/** Adapts lib/vault's per-vault adapter to the rotation port. */
export class KeyVaultRotationAdapter implements RotationKeyVault {
  constructor(private readonly vaultFor: (vault: string) => KeyVaultAdapter) {}

  async createKeyVersion(vault: string, name: string, opts: { rotationId: string; expiresOn?: string; purpose: "wrap" | "sign" }): Promise<{ version: string; reused: boolean }> {
    const r = await this.vaultFor(vault).createKeyVersion(name, { rotationId: opts.rotationId, ...(opts.expiresOn ? { expiresOn: new Date(opts.expiresOn) } : {}) });
    return { version: r.key.version, reused: !r.created };
  }
  async listKeyVersions(vault: string, name: string): Promise<VaultVersion[]> {
    const out: VaultVersion[] = [];
    for await (const v of this.vaultFor(vault).listVersions(name)) {
      out.push({
        version: v.version, enabled: v.enabled, createdOn: (v.createdOn ?? new Date(0)).toISOString(), tags: v.tags,
        ...(v.expiresOn ? { expiresOn: v.expiresOn.toISOString() } : {}), ...(v.keyOps ? { keyOps: v.keyOps } : {}),
      });
    }
    return out;
  }
  async updateKeyVersion(vault: string, name: string, version: string, patch: { enabled?: boolean; keyOps?: string[] }): Promise<void> {
    await this.vaultFor(vault).updateVersion(name, version, patch);
  }
  wrapKey(vault: string, name: string, version: string, plaintext: Buffer): Promise<Buffer> {
    return this.vaultFor(vault).wrap(name, version, plaintext);
  }
  unwrapKey(vault: string, name: string, version: string, wrapped: Buffer): Promise<Buffer> {
    return this.vaultFor(vault).unwrap(name, version, wrapped);
  }
  async publicJwk(vault: string, name: string, version: string): Promise<PublicJwk> {
    const { keys } = await this.vaultFor(vault).jwks(name, [version]);
    const jwk = keys[0];
    if (!jwk) throw new InvalidRequestError("KeyVersionNotFound", `[keyrotor] [rotation] no public key for ${vault}/${name}/${version}`, { status: 404 });
    return { ...jwk };
  }
  async setSecret(vault: string, name: string, value: string, opts: { rotationId: string; expiresOn?: string; slot?: string }): Promise<{ version: string; reused: boolean }> {
    const r = await this.vaultFor(vault).createSecretVersion(name, () => value, {
      rotationId: opts.rotationId, ...(opts.expiresOn ? { expiresOn: new Date(opts.expiresOn) } : {}), ...(opts.slot ? { tags: { slot: opts.slot } } : {}),
    });
    return { version: r.secret.version, reused: !r.created };
  }
  async listSecretVersions(vault: string, name: string): Promise<VaultVersion[]> {
    const out: VaultVersion[] = [];
    for await (const v of this.vaultFor(vault).listSecretVersions(name)) {
      out.push({ version: v.version, enabled: v.enabled, createdOn: (v.createdOn ?? new Date(0)).toISOString(), tags: v.tags, ...(v.expiresOn ? { expiresOn: v.expiresOn.toISOString() } : {}) });
    }
    return out;
  }
  async updateSecretVersion(vault: string, name: string, version: string, patch: { enabled: boolean }): Promise<void> {
    await this.vaultFor(vault).updateSecretVersion(name, version, patch);
  }
}

/** Stores not yet available as real adapters in this build must be supplied by the caller. */
export type RotationDepsOverrides = Partial<RotationDeps>;

/** Real adapters from configuration: Key Vault through lib/vault, the hash-chained ledger on Table
 * Storage. The inventory, DEK store, policy source, event publisher and JWKS store come from
 * `overrides` (their Table/Service Bus adapters are wired here as they land). */
export async function createRotationDeps(cfg: Config, overrides: RotationDepsOverrides = {}): Promise<RotationDeps> {
  const ledger: HashChainLedger = tableLedger({
    entries: await ensureTable(tableClient(cfg, "ledger")),
    seals: await ensureTable(tableClient(cfg, "seals")),
    signer: ephemeralSealSigner(),
  });
  const missing = (["inventory", "deks", "policies", "events", "jwks"] as const).filter((k) => overrides[k] === undefined);
  if (missing.length > 0) {
    throw new Error(`[keyrotor] [rotation] createRotationDeps: no real adapter yet for ${missing.join(", ")}; pass them in overrides`);
  }
  return {
    vault: new KeyVaultRotationAdapter((vault) => keyVaultFor(cfg, vault)),
    ledger,
    sealer: ledger,
    secrets: secretGenerators(),
    clock: systemClock,
    ...(overrides as Required<Pick<RotationDeps, (typeof missing)[number]>>),
    ...overrides,
  };
}

export interface MemoryRotationDeps extends RotationDeps {
  vault: MemoryKeyVault;
  inventory: MemoryInventory;
  deks: MemoryDekStore;
  policies: MemoryPolicies;
  ledger: HashChainLedger;
  events: MemoryEvents;
  jwks: MemoryJwks;
}

export function memoryRotationDeps(opts: { clock?: Clock } = {}): MemoryRotationDeps {
  const clock = opts.clock ?? systemClock;
  const ledger = memoryLedger({ signer: ephemeralSealSigner(), clock });
  return {
    vault: new MemoryKeyVault(() => clock.now()),
    inventory: new MemoryInventory(),
    deks: new MemoryDekStore(),
    policies: new MemoryPolicies(),
    ledger,
    sealer: ledger,
    events: new MemoryEvents(),
    jwks: new MemoryJwks(),
    secrets: secretGenerators(),
    clock,
  };
}

let installed: RotationDeps | Promise<RotationDeps> | undefined;

/** Installs the dependencies the activity handlers use (a host or test does this before starting). */
export function setRotationDeps(deps: RotationDeps | undefined): void {
  installed = deps;
}

/** The process-wide dependencies; built from configuration on first use when none were installed. */
export async function rotationDeps(): Promise<RotationDeps> {
  if (!installed) {
    installed = createRotationDeps(config());
  }
  return installed;
}
