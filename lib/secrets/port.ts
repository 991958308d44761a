// The secret-provider port: one credential pair at the service that checks it. The dual-credential
// rules (lib/domain/secretProviders.ts) decide which slot to touch; a provider only reads, makes,
// checks and ends the credential in a slot. Values cross this port inside an activity only: they
// go to Key Vault, never into orchestration history, logs, events or the ledger.
import type { SecretProviderKind, SecretProviderSpec } from "../domain/secretProviders";

/** Does a credential authenticate at its provider? `reason` never quotes the credential. */
export type CredentialCheck = { ok: true } | { ok: false; reason: string };

interface ProviderBase {
  readonly kind: SecretProviderKind;
  /** The provider's two slots, in order (lib/domain/secretProviders.ts slotsOf). */
  readonly slots: readonly [string, string];
  /**
   * Whether `credential` (a secret value as stored in Key Vault) authenticates at the provider now.
   * The rotation's testSecret step calls it before promotion; the validation gate ("new secret
   * authenticates at the provider") calls it too. Answers, never throws, for a rejected
   * credential; throws DependencyUnavailableError when the provider cannot be asked.
   */
  validate(credential: string): Promise<CredentialCheck>;
  /**
   * Ends the credential in `slot` (retirement after the overlap, or an emergency revoke): ARM
   * providers regenerate the slot's key, PostgreSQL disables the login and ends its sessions.
   * Safe to repeat: nobody holds the slot by then.
   */
  retire(slot: string): Promise<void>;
}

/** The provider makes the value (ARM regenerateKey): regenerate first, then store it. */
export interface ProviderIssuedCredentials extends ProviderBase {
  readonly issuer: "provider";
  /** The secret value (connection string) of the slot's current credential. */
  read(slot: string): Promise<string>;
  /** Regenerates the slot's credential at the provider and returns the new secret value. */
  regenerate(slot: string): Promise<string>;
}

/** keyrotor makes the value (a password): store it first, then set it at the provider (the AWS
 * template's createSecret / setSecret order), so a crash in between loses nothing. */
export interface KeyrotorIssuedCredentials extends ProviderBase {
  readonly issuer: "keyrotor";
  /** The secret value for `slot` with `password` (pure: no I/O). */
  compose(slot: string, password: string): string;
  /** Makes the slot accept `credential` (sets the login's password and lets it log in). Idempotent. */
  apply(slot: string, credential: string): Promise<void>;
}

export type CredentialProvider = ProviderIssuedCredentials | KeyrotorIssuedCredentials;

/** Builds the provider a policy names (data, not code). Throws InvalidRequestError for a kind this
 * deployment has no adapter for. */
export interface SecretProviders {
  for(spec: SecretProviderSpec): CredentialProvider;
}

/** What the secret steps need from Key Vault: versions with tags, a tagged write, one value read. */
export interface SecretVersionStore {
  listSecretVersions(vault: string, name: string): Promise<{ version: string; enabled: boolean; createdOn: string; tags: Record<string, string> }[]>;
  /** New secret version tagged `rotationId` and `slot`; reused when the newest already carries the rotationId. */
  setSecret(vault: string, name: string, value: string, opts: { rotationId: string; expiresOn?: string; slot?: string }): Promise<{ version: string; reused: boolean }>;
  getSecretValue(vault: string, name: string, version: string): Promise<string>;
}

/** What the rotation activities need for provider secrets besides the vault port: the providers
 * the composition configured, and a read of one secret version's value (inside an activity only). */
export interface ProviderCredentials {
  providers: SecretProviders;
  readSecret(vault: string, name: string, version: string): Promise<string>;
}
