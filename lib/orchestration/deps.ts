// The rotation activities' adapters: createRotationDeps(cfg) builds every real one from
// configuration, memoryRotationDeps() in-memory ones for tests. The composition root (lib/compose.ts)
// calls them; nothing here is held beyond the object returned.
import type { Config } from "../config";
import { InvalidRequestError } from "../domain/errors";
import { createServiceBusEventPublisher } from "../events";
import { keyVaultClientOptions, keyVaultCredential } from "../identity";
import { ephemeralSealSigner, HashChainLedger, memoryLedger, tableLedger, type SealSigner } from "../ledger";
import { keyVaultSealSigner } from "../ledger/keyVaultSealSigner";
import { systemClock, type Clock } from "../ports";
import { Inventory } from "../stores/inventory";
import { jwksStoreFromConfig } from "../stores/jwksStore";
import { PolicyStore } from "../stores/policyStore";
import { TableNotificationHealthStore } from "../stores/notificationHealthStore";
import { ensureTable, tableClient } from "../stores/tables";
import { keyVaultsFor, type KeyVaultAdapter } from "../vault/keyVault";
import {
  MemoryDekStore, MemoryEvents, MemoryInventory, MemoryJwks, MemoryKeyVault, MemoryPolicyStore,
} from "./memory";
import type { KeyVaultPort, PublicJwk, RotationDeps, VaultVersion } from "./ports";
import { secretGenerators } from "./secrets";
import { secretProvidersFrom, withSecretProviders } from "../secrets/compose";
import { TableDekPort } from "./tableDeks";
import { keyVaultValidationVault, memoryValidationVault } from "../validation/vaults";
import { MemoryFenceStore } from "./fence";
import { TableFenceStore } from "../stores/fenceStore";
import { flatDekAuthFrom } from "./flatDekAuthFrom";

export type * from "./ports";

/** Adapts lib/vault's per-vault adapter to the rotation port. */
export class KeyVaultRotationAdapter implements KeyVaultPort {
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

/** Replacements for single adapters (tests, hosts that share one ledger with the API). */
export type RotationDepsOverrides = Partial<Omit<RotationDeps, "ledger">> & { ledger?: HashChainLedger };

/** Real rotation deps plus the connections they hold open. */
export interface ConfiguredRotationDeps extends RotationDeps {
  ledger: HashChainLedger;
  /** Closes the Service Bus sender and client. */
  close(): Promise<void>;
}

/** The ledger's seal signer: the Key Vault key KEYROTOR_SEAL_KEY_ID names (seals then verify in
 * every process), else an ephemeral key (seals verify only in the process that made them). */
export async function sealSignerFor(cfg: Config): Promise<SealSigner> {
  if (!cfg.KEYROTOR_SEAL_KEY_ID) return ephemeralSealSigner();
  return keyVaultSealSigner({ keyId: cfg.KEYROTOR_SEAL_KEY_ID, credential: keyVaultCredential(cfg), clientOptions: keyVaultClientOptions(cfg) });
}

/** The one place the real ledger is built: the entries and seals tables, sealed with
 * sealSignerFor(cfg). The API (lib/api/services.ts) and the rotation engine both use it, so seals
 * either process writes verify in the other. */
export async function createLedger(cfg: Config, opts: { clock?: Clock } = {}): Promise<HashChainLedger> {
  return tableLedger({
    entries: await ensureTable(tableClient(cfg, "ledger")),
    seals: await ensureTable(tableClient(cfg, "seals")),
    signer: await sealSignerFor(cfg),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
}

/** Every adapter from configuration: Key Vault (lib/vault), the hash-chained, sealed ledger, the
 * inventory, policy and DEK stores and the JWKS table (Table Storage), and the Service Bus
 * publisher (retries, then NotificationFailed in the ledger). `overrides` replace single adapters. */
export async function createRotationDeps(cfg: Config, overrides: RotationDepsOverrides = {}): Promise<ConfiguredRotationDeps> {
  const ledger = overrides.ledger ?? (await createLedger(cfg));
  const policies = new PolicyStore(tableClient(cfg, "policies"));
  // One adapter per vault for this deps instance (its public-key cache is worth keeping).
  const vaultFor = keyVaultsFor(cfg);
  // Failures are recorded where /api/health (another instance on Flex) reads them.
  const bus = overrides.events ? undefined : createServiceBusEventPublisher(cfg, ledger, { healthStore: new TableNotificationHealthStore(tableClient(cfg, "locks")) });
  // Provider secrets (lib/secrets): the providers a policy's secret.provider picks from.
  return withSecretProviders({
    vault: new KeyVaultRotationAdapter(vaultFor),
    validationVault: keyVaultValidationVault(vaultFor),
    inventory: new Inventory(tableClient(cfg, "inventory"), policies),
    deks: new TableDekPort(tableClient(cfg, "deks")),
    // The store's policyFor is the one governing rule (a tenant's DEK without a policy follows
    // its tenant's active DEK policy), read in the one policy shape.
    policies,
    schedulePolicies: () => policies.all(),
    ledger,
    sealer: ledger,
    events: bus ? bus.publisher : overrides.events,
    jwks: jwksStoreFromConfig(cfg),
    secrets: secretGenerators(),
    clock: systemClock,
    fences: new TableFenceStore(tableClient(cfg, "locks")),
    flatDekAuth: flatDekAuthFrom(cfg, vaultFor),
    ...overrides,
    close: async () => {
      await bus?.close();
    },
  } as ConfiguredRotationDeps, secretProvidersFrom(cfg));
}

export interface MemoryRotationDeps extends RotationDeps {
  vault: MemoryKeyVault;
  inventory: MemoryInventory;
  deks: MemoryDekStore;
  policies: MemoryPolicyStore;
  ledger: HashChainLedger;
  events: MemoryEvents;
  jwks: MemoryJwks;
  fences: MemoryFenceStore;
}

export function memoryRotationDeps(opts: { clock?: Clock } = {}): MemoryRotationDeps {
  const clock = opts.clock ?? systemClock;
  const ledger = memoryLedger({ signer: ephemeralSealSigner(), clock });
  // One policy store: the engine reads it, the inventory checks attachments against it.
  const policies = new MemoryPolicyStore(() => clock.now());
  const vault = new MemoryKeyVault(() => clock.now());
  return {
    vault,
    validationVault: memoryValidationVault(vault),
    inventory: new MemoryInventory(policies),
    deks: new MemoryDekStore(),
    policies,
    ledger,
    sealer: ledger,
    events: new MemoryEvents(ledger),
    jwks: new MemoryJwks(),
    secrets: secretGenerators(),
    clock,
    fences: new MemoryFenceStore(),
  };
}
