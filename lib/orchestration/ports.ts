// What the rotation activities need: the resource ports (defined once, in lib/ports.ts) and the
// engine's policy reads and secret generators. memory.ts implements them in memory for tests and
// the local host.
import type { Clock, DekPort, EventPublisher, FenceStore, InventoryPort, JwksPort, KeyVaultPort, Ledger } from "../ports";
import type { ManagedKey } from "../domain/keys";
import type { Policy } from "../domain/policy";
import type { SecretProviderSpec } from "../domain/secretProviders";
import type { ProviderCredentials } from "../secrets/port";
import type { ProviderCheck, ValidationVault } from "../validation/ports";

export type { DekPort, InventoryPort, JwksDocument, JwksPort, KeyVaultPort, PublicJwk, VaultVersion } from "../ports";

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
  deks: DekPort;
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
