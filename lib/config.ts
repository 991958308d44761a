// Every app setting keyrotor reads, in one place. Validated once; a missing or bad setting fails at
// start with a message that names it. Nothing else in lib/ or functions/ reads process.env.
import { z } from "zod";
import { Duration } from "luxon";
import { DEFAULT_SHARED_BRANCHES, MAX_SHARED_BRANCHES } from "./domain/branchKeys";

const isoDuration = z.string().refine((s) => Duration.fromISO(s).isValid, "must be an ISO-8601 duration, e.g. PT1H");
const tableName = z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, "must be a valid Table name (3-63 letters/digits)");
const csv = z
  .string()
  .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));
export interface VaultEndpoint {
  /** The vault's name as it appears in keyIds and Event Grid's VaultName. */
  name: string;
  url: string;
}
const vaultEntry = z.string().transform((entry, ctx): VaultEndpoint => {
  const eq = entry.indexOf("=");
  const url = eq > 0 ? entry.slice(eq + 1) : entry;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    ctx.addIssue({ code: "custom", message: `has an entry that is not a URL: "${entry}"` });
    return z.NEVER;
  }
  const name = eq > 0 ? entry.slice(0, eq) : (parsed.hostname.split(".")[0] ?? "");
  if (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(name)) {
    ctx.addIssue({ code: "custom", message: `has an entry without a valid vault name: "${entry}"` });
    return z.NEVER;
  }
  return { name, url: parsed.origin };
});
const flag = z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1");
const fraction = z.coerce.number().gt(0).lte(1);
const positiveInt = z.coerce.number().int().positive();

/** Setting name → schema. The names are the contract with infra/ (a test holds the Bicep to it). */
export const settingsSchema = {
  /** Table endpoint, e.g. https://<account>.table.core.windows.net (identity-based access). */
  KEYROTOR_TABLES_URL: z.url().optional(),
  /** Alternative to the URL: a storage connection string (local development, Azurite). */
  KEYROTOR_TABLES_CONNECTION: z.string().min(1).optional(),
  KEYROTOR_TABLE_POLICIES: tableName.default("policies"),
  KEYROTOR_TABLE_INVENTORY: tableName.default("inventory"),
  KEYROTOR_TABLE_DEKS: tableName.default("deks"),
  KEYROTOR_TABLE_LEDGER: tableName.default("rotationledger"),
  KEYROTOR_TABLE_SEALS: tableName.default("ledgerseals"),
  KEYROTOR_TABLE_APPROVALS: tableName.default("approvals"),
  /** Published JWKS documents of signing keys (what GET /api/jwks/{vault}/{key} serves). */
  KEYROTOR_TABLE_JWKS: tableName.default("jwks"),
  /** Fence rows: the latest lock grant (fencing token) of each key, which every mutating step checks. */
  KEYROTOR_TABLE_LOCKS: tableName.default("locks"),
  /** Key hierarchy (docs/key-hierarchy.md): branch-key records, tenant assignments and workflow
   * checkpoints. Read by every KEK flow's zero-reference count, hierarchy or not. */
  KEYROTOR_TABLE_BRANCH_KEYS: tableName.default("branchkeys"),
  /** Key hierarchy: format-2 DEKs, wrapped under branch keys. */
  KEYROTOR_TABLE_BRANCH_DEKS: tableName.default("branchdeks"),
  /** Key hierarchy: the one Key Vault signing key trusted to sign branch-key records,
   * `signing:<vault>/<key>` (any of its versions). Records signed by any other key are refused.
   * Unset: KEKs cannot have branch keys rotated (a KEK flow that finds some fails, changing nothing
   * old). */
  KEYROTOR_BRANCH_SIGNING_KEY_ID: z.string().regex(/^signing:[A-Za-z0-9-]+\/[A-Za-z0-9-]+$/, "must be signing:<vault>/<key>, a signing key of a vault in KEYROTOR_VAULT_URLS").optional(),
  /** Format-1 DEKs (docs/flat-dek-signatures.md): new ones are signed by KEYROTOR_BRANCH_SIGNING_KEY_ID
   * whenever it is set, and a signed row is always verified before use. This refuses, besides,
   * every UNSIGNED (legacy) row — in the rewrap, the migration and every reader built from the
   * settings. Off by default so an upgrade reads the DEKs written before signing (the health
   * endpoint says so, as a warning); turn it on once no legacy row is left in use. Needs the signing key. */
  KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE: flag.default(false),
  /** Key hierarchy: shared branch keys per KEK for tenants assigned from now on (stored
   * assignments keep theirs, so changing it never moves a tenant). */
  KEYROTOR_BRANCH_KEYS_PER_KEK: positiveInt.max(MAX_SHARED_BRANCHES).default(DEFAULT_SHARED_BRANCHES),
  /** Key hierarchy: how long one activity call of a hierarchy workflow runs before it returns with
   * more to do (well under the host's functionTimeout, 10 min in host.json). */
  KEYROTOR_HIERARCHY_SLICE_SECONDS: positiveInt.max(300).default(120),
  /** Comma-separated vaults keyrotor manages, each `https://<name>.vault.azure.net` or
   * `<name>=<url>` (a vault behind another host name, e.g. the local peer). Event Grid events from
   * other vaults are ignored. */
  KEYROTOR_VAULT_URLS: csv.pipe(z.array(vaultEntry).min(1, "must list at least one vault URL")),
  /** PEM CA bundle for a Key Vault with a private CA (only the local peer needs this). */
  KEYROTOR_KEYVAULT_CA_FILE: z.string().min(1).optional(),
  /** How keyrotor authenticates to Key Vault: `default` = DefaultAzureCredential (managed identity
   * in Azure, developer sign-in locally); `local-peer` = a fixed bearer token, which only the local
   * Key Vault peer accepts (it also skips the challenge's resource check, as the peer is not
   * vault.azure.net). */
  KEYROTOR_KEYVAULT_CREDENTIAL: z.enum(["default", "local-peer"]).default("default"),
  /** Secret providers (lib/secrets): the Azure Resource Manager endpoint the Storage, Service Bus
   * and Cosmos DB providers call (default https://management.azure.com; the local ARM peer's URL). */
  KEYROTOR_ARM_ENDPOINT: z.url().optional(),
  /** PEM CA bundle for an ARM endpoint with a private CA (only the local ARM peer needs this). */
  KEYROTOR_ARM_CA_FILE: z.string().min(1).optional(),
  /** How the providers authenticate to ARM: `default` = DefaultAzureCredential (the app's managed
   * identity); `local-peer` = a token only the local ARM peer accepts. */
  KEYROTOR_ARM_CREDENTIAL: z.enum(["default", "local-peer"]).default("default"),
  /** Key Vault key (full key id URL) that signs ledger seals. */
  KEYROTOR_SEAL_KEY_ID: z.url().optional(),
  /** Fully qualified Service Bus namespace, e.g. myns.servicebus.windows.net (identity-based). */
  KEYROTOR_SERVICEBUS_NAMESPACE: z.string().min(1).optional(),
  /** Alternative to the namespace: a connection string (local peer). */
  KEYROTOR_SERVICEBUS_CONNECTION: z.string().min(1).optional(),
  KEYROTOR_EVENTS_TOPIC: z.string().min(1).default("key-rotation-events"),
  /** NCRONTAB (6 fields) for the policy timer. */
  KEYROTOR_TIMER_SCHEDULE: z.string().regex(/^(\S+\s+){5}\S+$/, "must be a 6-field NCRONTAB expression").default("0 */15 * * * *"),
  /** Share of Key Vault's documented per-vault limit keyrotor may use for a rewrap. */
  KEYROTOR_VAULT_BUDGET_FRACTION: fraction.default(0.8),
  KEYROTOR_REWRAP_BATCH_SIZE: positiveInt.max(1000).default(500),
  KEYROTOR_EMERGENCY_APPROVAL_WINDOW: isoDuration.default("PT1H"),
  KEYROTOR_LEDGER_RETENTION: isoDuration.default("P7Y"),
  /** Print spans and metrics to the console (local host). */
  KEYROTOR_TELEMETRY_CONSOLE: flag.default(false),
  APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().min(1).optional(),
  /** Client id of the user-assigned managed identity (Azure); DefaultAzureCredential reads it. */
  AZURE_CLIENT_ID: z.string().min(1).optional(),
} as const;

const configSchema = z
  .object(settingsSchema)
  .refine((c) => c.KEYROTOR_TABLES_URL ?? c.KEYROTOR_TABLES_CONNECTION, {
    message: "set KEYROTOR_TABLES_URL (identity) or KEYROTOR_TABLES_CONNECTION (connection string)",
    path: ["KEYROTOR_TABLES_URL"],
  })
  .refine((c) => c.KEYROTOR_SERVICEBUS_NAMESPACE ?? c.KEYROTOR_SERVICEBUS_CONNECTION, {
    message: "set KEYROTOR_SERVICEBUS_NAMESPACE (identity) or KEYROTOR_SERVICEBUS_CONNECTION (connection string)",
    path: ["KEYROTOR_SERVICEBUS_NAMESPACE"],
  })
  .refine((c) => !c.KEYROTOR_BRANCH_SIGNING_KEY_ID || signingVaultListed(c.KEYROTOR_BRANCH_SIGNING_KEY_ID, c.KEYROTOR_VAULT_URLS), {
    message: "names a vault that is not in KEYROTOR_VAULT_URLS (keyrotor reaches only the vaults listed there)",
    path: ["KEYROTOR_BRANCH_SIGNING_KEY_ID"],
  })
  .refine((c) => !c.KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE || c.KEYROTOR_BRANCH_SIGNING_KEY_ID, {
    message: "needs KEYROTOR_BRANCH_SIGNING_KEY_ID: flat DEKs can be required to be signed only when a signing key signs and verifies them",
    path: ["KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE"],
  });

/** Is the vault of `signing:<vault>/<key>` one of the configured vaults? */
function signingVaultListed(signingKeyId: string, vaults: readonly VaultEndpoint[]): boolean {
  const vault = signingKeyId.slice("signing:".length).split("/")[0]?.toLowerCase();
  return vaults.some((v) => v.name.toLowerCase() === vault);
}

export type Config = z.output<typeof configSchema>;
export const SETTING_NAMES = Object.keys(settingsSchema) as (keyof typeof settingsSchema)[];

export class ConfigError extends Error {
  constructor(message: string) {
    super(`[keyrotor] [config] ${message}`);
    this.name = "ConfigError";
  }
}

/** Validates the environment; throws ConfigError naming every bad or missing setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const name of SETTING_NAMES) {
    const v = env[name];
    picked[name] = v === "" ? undefined : v;
  }
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? "settings");
      return picked[name] === undefined && i.code === "invalid_type" ? `${name} is missing` : `${name} ${i.message}`;
    });
    throw new ConfigError(`invalid settings: ${problems.join("; ")}`);
  }
  return parsed.data;
}

