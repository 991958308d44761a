// What the rotation activities need: the resource ports (defined once, in lib/ports.ts) and the
// engine's own DEK view and secret generators. memory.ts implements them in memory for tests and
// the local host.
import type { Clock, EventPublisher, FenceStore, InventoryPort, JwksPort, KeyVaultPort, Ledger } from "../ports";
import type { ManagedKey, VersionState } from "../domain/keys";
import type { Policy } from "../domain/policy";
import type { SecretProviderSpec } from "../domain/secretProviders";
import type { ProviderCredentials } from "../secrets/port";
import type { ProviderCheck, ValidationVault } from "../validation/ports";

export type { InventoryPort, JwksDocument, JwksPort, KeyVaultPort, PublicJwk, VaultVersion } from "../ports";

// ---- DEK store -----------------------------------------------------------------------------------

export interface DekRecord {
  tenant: string;
  /** keyrotor-assigned DEK version ("v1", "v2", ...). */
  dekVersion: string;
  state: VersionState;
  kekKeyId: string;
  kekVersion: string;
  /** base64 of the KEK-wrapped DEK. */
  wrapped: string;
  createdAt: string;
  rotationId?: string;
}

export interface StoredDek extends DekRecord {
  etag: string;
}

export interface DekRewrite {
  dekVersion: string;
  etag: string;
  kekVersion: string;
  wrapped: string;
}

export interface DekStorePort {
  listTenants(): Promise<string[]>;
  /** One page of the tenants index (the DEK fan-out pages with it instead of listing every tenant). */
  tenantsPage?(opts: { continuation?: string; limit: number }): Promise<{ tenants: string[]; continuation?: string }>;
  /** One page of a tenant's DEKs, in a stable order; `continuation` resumes after the last row. */
  scanRange(tenant: string, opts: { continuation?: string; limit: number }): Promise<{ records: StoredDek[]; continuation?: string }>;
  /** If-Match writes of re-wrapped DEKs in one tenant; rows changed meanwhile come back as
   * conflicts (never overwritten). */
  rewrapBatch(tenant: string, rewrites: DekRewrite[]): Promise<{ written: number; conflicts: string[] }>;
  /** DEKs wrapped under each version of `kekKeyId`. */
  countByKekVersion(kekKeyId: string): Promise<Record<string, number>>;
  /** One leg of that count: at most about `maxRows` rows from `continuation` (a checkpoint the
   * orchestrator keeps), so a count of 1M DEKs is several short activities, not one long one. */
  countByKekVersionPage?(kekKeyId: string, opts: { continuation?: string; maxRows: number }): Promise<{ byVersion: Record<string, number>; continuation?: string }>;
  tenantDeks(tenant: string): Promise<StoredDek[]>;
  /** One transaction in the tenant's partition: insert `next` as primary and, if given, demote
   * `previous` (If-Match) to secondary. `guard` runs right before the promotion with the KEK version
   * the DEK to promote is wrapped under, and throws to refuse it (no longer the KEK's primary,
   * disabled, revoked): nothing is promoted then. */
  rotatePrimary(
    tenant: string, next: DekRecord, previous: { dekVersion: string; etag: string } | undefined,
    guard?: (wrap: { kekKeyId: string; kekVersion: string }) => Promise<void>,
  ): Promise<void>;
  /** Rollback: the secondary DEK `dekVersion` becomes the tenant's primary again and the current
   * primary secondary, in one write that moves the primary consumers resolve. Idempotent; a
   * retired, revoked or unknown DEK is refused. `guard` sees the KEK version it is wrapped under. */
  rollbackPrimary?(tenant: string, dekVersion: string, guard?: (wrap: { kekKeyId: string; kekVersion: string }) => Promise<void>): Promise<{ moved: boolean }>;
}

// ---- Policies, JWKS, secrets ---------------------------------------------------------------------

/** The part of a policy a rotation reads (durations as ISO-8601). */
export interface RotationPolicyView {
  policyId: string;
  expiresAfter?: string;
  overlap: string;
  revokeOld: boolean;
  retainFor: string;
  rollbackWindow: string;
  maxAttempts: number;
  /** `provider`: the service that checks the credential (lib/secrets), instead of a generator. */
  secret?: { generator: string; length: number; provider?: SecretProviderSpec };
}

/** The engine's reads of the policy port (lib/ports.ts PolicyPort), in the terms a rotation acts on
 * (lib/domain/planner.ts PolicySource is another thing: the policies a plan is made from). */
export interface RotationPolicies {
  policyFor(key: ManagedKey): Promise<RotationPolicyView | undefined>;
}

/** Built-in generators make a value from nothing but a length. */
export interface SecretGenerator {
  generate(length: number): string;
}

/** Provider rotators regenerate a credential at its provider with the dual-credential pattern:
 * the slot not in use is regenerated and becomes current, the other stays valid for `overlap`
 * (e.g. storage account key1/key2). */
export interface ProviderRotator {
  rotate(req: { vault: string; name: string; rotationId: string; currentSlot?: string }): Promise<{ value: string; slot: string }>;
}

export interface SecretGenerators {
  generators: Record<string, SecretGenerator>;
  providers: Record<string, ProviderRotator>;
  /** The providers a policy's secret.provider chooses from (lib/secrets), and a value read. */
  credentials?: ProviderCredentials;
}

export interface LedgerSealer {
  seal(opts?: { reason?: string; rotationId?: string }): Promise<unknown>;
}

// ---- Everything together -------------------------------------------------------------------------

export interface RotationDeps {
  vault: KeyVaultPort;
  inventory: InventoryPort;
  deks: DekStorePort;
  policies: RotationPolicies;
  ledger: Ledger;
  sealer?: LedgerSealer;
  events: EventPublisher;
  jwks: JwksPort;
  secrets: SecretGenerators;
  clock: Clock;
  /** Each key's latest lock grant, which every mutating activity checks (./fence.ts). */
  fences: FenceStore;
  /** Every policy, for the Planner the DEK fan-out's page activity runs (which tenants are due in
   * its slot). Without it every tenant on a page counts as due. */
  schedulePolicies?: () => Promise<Policy[]>;
  /** Diagnostic log; never given key material. */
  log?: (line: string) => void;
  /** Runs a new version's operations for the validation gates (lib/validation): sign and secret
   * read-back besides wrap/unwrap. Without it the validateVersion activity refuses to run. */
  validationVault?: ValidationVault;
  /** Provider secrets: does a value authenticate at its provider (the secret gate calls it). */
  validateAtProvider?: ProviderCheck;
}
