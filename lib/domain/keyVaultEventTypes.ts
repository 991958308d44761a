// The Key Vault Event Grid event types keyrotor acts on. functions/keyVaultEvents imports this list,
// and a test holds infra's Event Grid subscription filter to it: exactly these, nothing else, so
// Event Grid never delivers an event keyrotor would only have to ignore (and pay for).

export const HANDLED_KEYVAULT_EVENT_TYPES = [
  /** Starts a rotation of the managed key (kek or signing). */
  "Microsoft.KeyVault.KeyNearExpiry",
  "Microsoft.KeyVault.KeyExpired",
  /** A version keyrotor did not create is recorded and alerted (UnmanagedVersionDetected). */
  "Microsoft.KeyVault.KeyNewVersionCreated",
  /** Starts a rotation of the managed secret. */
  "Microsoft.KeyVault.SecretNearExpiry",
  "Microsoft.KeyVault.SecretExpired",
  /** Alert only: certificates renew through Key Vault's own issuer policy. */
  "Microsoft.KeyVault.CertificateNearExpiry",
  "Microsoft.KeyVault.CertificateExpired",
] as const;

export type HandledKeyVaultEventType = (typeof HANDLED_KEYVAULT_EVENT_TYPES)[number];

export function isHandledKeyVaultEventType(type: string): type is HandledKeyVaultEventType {
  return (HANDLED_KEYVAULT_EVENT_TYPES as readonly string[]).includes(type);
}
