// What the rotation activities need: the resource ports (defined once, in lib/ports.ts) and the
// engine's policy reads and secret generators. memory.ts implements them in memory for tests and
// the local host.
import type { Clock, DekPort, EventPublisher, FenceStore, InventoryPort, JwksPort, KeyVaultPort, Ledger, PolicyPort } from "../ports";
import type { Policy } from "../domain/policy";
import type { FlatDekAuth } from "../envelope/flatDekAuth";
import type { ProviderCredentials } from "../secrets/port";
import type { ProviderCheck, ValidationVault } from "../validation/ports";

export type { DekPort, InventoryPort, JwksDocument, JwksPort, KeyVaultPort, PublicJwk, VaultVersion } from "../ports";

// ---- Policies, JWKS, secrets ---------------------------------------------------------------------

/** Built-in generators make a value from nothing but a length. */
export interface SecretGenerator {
  generate(length: number): string;
}

export interface SecretGenerators {
  /** By the policy's secret encoding. */
  generators: Record<string, SecretGenerator>;
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
  /** The policy governing a key, in the one policy shape (lib/domain/policy.ts). */
  policies: Pick<PolicyPort, "policyFor">;
  ledger: Ledger;
  sealer?: LedgerSealer;
  events: EventPublisher;
  jwks: JwksPort;
  secrets: SecretGenerators;
  clock: Clock;
  /** Each key's latest lock grant, which every mutating activity checks (./fence.ts). */
  fences: FenceStore;
  /** Every policy, for the Planner the DEK fan-out's page activity runs (which tenants are due in
   * its due period). Without it every tenant on a page counts as due. */
  schedulePolicies?: () => Promise<Policy[]>;
  /** Runs a new version's operations for the validation gates (lib/validation): sign and secret
   * read-back besides wrap/unwrap. Without it the validateVersion activity refuses to run. */
  validationVault?: ValidationVault;
  /** Provider secrets: does a value authenticate at its provider (the secret gate calls it). */
  validateAtProvider?: ProviderCheck;
  /** Format-1 DEKs (lib/envelope/flatDekAuth.ts): signs each new one when a signing key is
   * configured; the KEK rewrap and the DEK gate verify rows with it. Absent = unsigned DEKs. */
  flatDekAuth?: FlatDekAuth;
}
