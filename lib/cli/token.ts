// Bearer tokens for a deployed keyrotor, acquired by the CLI itself with @azure/identity for the
// app's API scope (App Service Authentication validates them and sets the principal). `--token`
// still wins when given; without a scope nothing is acquired (the local host reads --as).
import type { TokenCredential } from "@azure/identity";
import { CliError } from "./client";

export const CREDENTIAL_KINDS = ["default", "cli", "device-code"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];
/** Makes the credential of a kind; the CLI's tests inject a fake one. */
export type CredentialFactory = (kind: CredentialKind) => Promise<TokenCredential>;

export function credentialKind(value: string | undefined): CredentialKind {
  const kind = value ?? "default";
  if (!(CREDENTIAL_KINDS as readonly string[]).includes(kind)) {
    throw new CliError(`--credential must be one of ${CREDENTIAL_KINDS.join(", ")} (got "${kind}")`, 2);
  }
  return kind as CredentialKind;
}

/** An application ID URI or client id alone is not a scope for the v2 endpoint: it means the
 * app's `/.default` scope (every permission the app grants the caller). Anything else is kept. */
export function normalizeScope(scope: string): string {
  const s = scope.trim();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)) return `api://${s}/.default`;
  if (/^api:\/\/[^/]+\/?$/i.test(s)) return `${s.replace(/\/$/, "")}/.default`;
  return s;
}

/**
 * default: DefaultAzureCredential (environment, workload or managed identity, `az login`, azd,
 * PowerShell); cli: the `az login` session only; device-code: sign in on another device (the
 * prompt goes to stderr so --json output stays clean; AZURE_CLIENT_ID names a public client app
 * when the API does not pre-authorize the default one). @azure/identity loads only when used.
 */
export const azureCredential: CredentialFactory = async (kind) => {
  const identity = await import("@azure/identity");
  const tenantId = process.env.AZURE_TENANT_ID;
  const clientId = process.env.AZURE_CLIENT_ID;
  if (kind === "cli") return new identity.AzureCliCredential(tenantId ? { tenantId } : {});
  if (kind === "device-code") {
    return new identity.DeviceCodeCredential({
      ...(tenantId ? { tenantId } : {}),
      ...(clientId ? { clientId } : {}),
      userPromptCallback: (info) => {
        process.stderr.write(`${info.message}\n`);
      },
    });
  }
  return new identity.DefaultAzureCredential();
};

/** A token source for one scope. It asks the credential before each request: the credential
 * caches the token and renews it before it expires (a long `status --watch` outlives one token). */
export function tokenSource(factory: CredentialFactory, kind: CredentialKind, scopeSpec: string): () => Promise<string> {
  const scope = normalizeScope(scopeSpec);
  let credential: Promise<TokenCredential> | undefined;
  return async () => {
    credential ??= factory(kind);
    let token: { token: string } | null;
    try {
      token = await (await credential).getToken(scope);
    } catch (err) {
      const hint = kind === "device-code" ? "" : " (sign in with `az login`, or use --credential device-code)";
      throw new CliError(`cannot get a token for ${scope} with the ${kind} credential: ${(err as Error).message}${hint}`, 2);
    }
    if (!token?.token) throw new CliError(`cannot get a token for ${scope} with the ${kind} credential: none was returned`, 2);
    return token.token;
  };
}
