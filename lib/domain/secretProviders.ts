// Secrets that rotate where they live: the policy names the provider that checks the credential
// (a storage account, a Service Bus rule, a Cosmos DB account, a PostgreSQL server) and where it
// is. This module owns that data's shape and the dual-credential rules; it does no I/O.
//
// Dual-credential: every provider has two interchangeable slots (key1/key2, primary/secondary, two
// logins). A rotation regenerates the slot NOT in use, stores it as the new secret version tagged
// with its slot, and promotes it after the propagation wait; the old slot stays valid through the
// overlap; retirement regenerates (or disables) the old slot, which is what ends the old credential.
import { z } from "zod";
import { InvalidRequestError } from "./errors";

export const SECRET_PROVIDER_KINDS = ["storageAccountKey", "serviceBusSas", "cosmosDbKey", "postgresPassword"] as const;
export type SecretProviderKind = (typeof SECRET_PROVIDER_KINDS)[number];

// ARM names: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
const subscriptionId = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "must be a subscription GUID");
const resourceGroup = z.string().regex(/^[-\w.()]{1,89}[-\w()]$/, "must be a resource group name");
const arm = { subscriptionId, resourceGroup };

const storageAccountKey = z.strictObject({
  kind: z.literal("storageAccountKey"),
  ...arm,
  account: z.string().regex(/^[a-z0-9]{3,24}$/, "must be 3-24 lower-case letters or digits"),
  /** Suffix of the account's endpoints in the connection string (sovereign clouds differ). */
  endpointSuffix: z.string().regex(/^[a-z0-9.-]{3,64}$/).default("core.windows.net"),
});

const serviceBusSas = z.strictObject({
  kind: z.literal("serviceBusSas"),
  ...arm,
  namespace: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$/, "must be a Service Bus namespace name"),
  /** The shared access authorization rule whose keys rotate. */
  rule: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/, "must be an authorization rule name"),
  /** An entity-level rule: the queue or topic that holds it (namespace rule when absent). */
  queue: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~/-]{0,259}$/).optional(),
  topic: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~/-]{0,259}$/).optional(),
});

const cosmosDbKey = z.strictObject({
  kind: z.literal("cosmosDbKey"),
  ...arm,
  account: z.string().regex(/^[a-z0-9][a-z0-9-]{1,42}[a-z0-9]$/, "must be a Cosmos DB account name"),
  /** Rotate the read-only key pair instead of the read-write one. */
  readOnly: z.boolean().default(false),
});

const postgresPassword = z.strictObject({
  kind: z.literal("postgresPassword"),
  host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, "must be a host name or IPv4 address"),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, "must be a database name"),
  /** The two alternating logins (both members of the role that holds the privileges). */
  logins: z.tuple([pgRole(), pgRole()]).refine(([a, b]) => a !== b, "must name two different logins"),
  /** Name of the app setting that holds the admin connection string used to set passwords (a Key
   * Vault reference in Azure); the policy never holds a credential. */
  adminConnectionSetting: z.string().regex(/^[A-Z][A-Z0-9_]{0,127}$/, "must be an app setting name (upper case, digits, '_')"),
  sslmode: z.enum(["disable", "require", "verify-full"]).default("require"),
});

function pgRole(): z.ZodString {
  return z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case PostgreSQL role name");
}

/** What a policy's `secret.provider` holds. */
export const secretProviderSchema = z.discriminatedUnion("kind", [storageAccountKey, serviceBusSas, cosmosDbKey, postgresPassword])
  .refine((p) => p.kind !== "serviceBusSas" || !(p.queue && p.topic), { message: "names a queue or a topic, not both", path: ["topic"] });
export type SecretProviderSpec = z.output<typeof secretProviderSchema>;
export type SecretProviderInput = z.input<typeof secretProviderSchema>;
export type ProviderSpecOf<K extends SecretProviderKind> = Extract<SecretProviderSpec, { kind: K }>;

/** Validates a provider spec, or throws InvalidRequestError naming the field under `prefix`. */
export function parseSecretProvider(input: unknown, prefix = "secret.provider"): SecretProviderSpec {
  const r = secretProviderSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") path.push(issue.keys[0] ?? "");
  const field = [prefix, ...path].join(".");
  const message = issue.code === "unrecognized_keys" ? "is not a field of this provider" : issue.message.replace(/^Invalid input: /, "");
  throw new InvalidRequestError("PolicyInvalid", `[keyrotor] [policy] ${field} ${message}`, { field });
}

// ---- slots --------------------------------------------------------------------------------------

/** Each provider's two slots, in the provider's own words; the first is the one consumers are
 * assumed to hold when a secret comes under keyrotor's care without a slot tag. */
export function slotsOf(spec: SecretProviderSpec): readonly [string, string] {
  switch (spec.kind) {
    case "storageAccountKey": return ["key1", "key2"];
    case "serviceBusSas": return ["primary", "secondary"];
    case "cosmosDbKey": return spec.readOnly ? ["primaryReadonly", "secondaryReadonly"] : ["primary", "secondary"];
    case "postgresPassword": return spec.logins;
  }
}

/** The slot a rotation regenerates: the one not in use. `current` is the slot tag of the primary
 * secret version; none (a secret registered as it was) means consumers hold the first slot. A tag
 * naming no slot of this provider (the policy's provider changed) is refused: regenerating a
 * guessed slot could cut off the credential everyone uses. */
export function nextSlot(spec: SecretProviderSpec, current: string | undefined): string {
  const [a, b] = slotsOf(spec);
  if (current === undefined || current === a) return b;
  if (current === b) return a;
  throw new InvalidRequestError("SlotUnknown", `[keyrotor] [secrets] the primary secret version is tagged slot "${current}", which ${spec.kind} does not have (${a}, ${b}); re-register the secret or fix its slot tag`, { field: "slot" });
}

/** A version of the secret as the dual-credential rules see it. */
export interface SlotVersion {
  version: string;
  slot?: string;
  state: "primary" | "secondary" | "retired" | "revoked";
  /** ISO instant (the inventory's); tells a rolled-back version from one in its overlap. */
  createdAt?: string;
}

/**
 * Was `v` taken out of service by a rollback? Promotion always makes the newest version primary;
 * a secondary NEWER than the primary got there only because a rollback re-promoted an older one.
 */
export function isRolledBack(v: SlotVersion, primary: SlotVersion | undefined): boolean {
  if (v.state !== "secondary" || !primary?.createdAt || !v.createdAt) return false;
  return Date.parse(v.createdAt) > Date.parse(primary.createdAt);
}

/**
 * May a rotation regenerate `slot`, and what must end first? The live (secondary) versions that
 * hand the slot out decide (an untagged version holds `untaggedSlot`, the first slot, as nextSlot
 * assumes). `overlapEnded` names the secondaries whose overlap, counted from their demotion, is
 * over (the retirement rule's candidates, lib/domain/versions.ts):
 * - a holder whose overlap is over: retiring it is what the retirement timer would do next, so the
 *   rotation does it first (`retireFirst`: ledger + Retired event, its credential ends at the
 *   provider) and rotates into the freed slot;
 * - a holder inside its overlap, rolled back or not: consumers may still hold its credential (a
 *   rolled-back one was primary for the rollback window, and a rollback needs only one person), and
 *   no single person may end a credential before its overlap is over. The slot is
 *   refused with SlotInOverlap (409), saying when it frees; only an emergency (two people approved)
 *   may end it early: a rolled-back holder is then retired first (recorded), one in its ordinary
 *   overlap is regenerated over directly, as emergencies always did.
 */
export function claimSlot(
  versions: readonly SlotVersion[], slot: string, emergency: boolean, untaggedSlot?: string,
  overlapEnded: ReadonlySet<string> = new Set(),
): { retireFirst: string[] } {
  const primary = versions.find((v) => v.state === "primary");
  const holders = versions.filter((v) => v.state === "secondary" && (v.slot ?? untaggedSlot) === slot);
  const retireFirst = holders.filter((v) => overlapEnded.has(v.version) || (emergency && isRolledBack(v, primary))).map((v) => v.version);
  const inOverlap = holders.find((v) => !overlapEnded.has(v.version));
  if (inOverlap && !emergency) {
    const what = isRolledBack(inOverlap, primary) ? `rolled-back version ${inOverlap.version}` : `secondary version ${inOverlap.version}`;
    throw new InvalidRequestError("SlotInOverlap", `[keyrotor] [secrets] slot ${slot} still backs ${what}, inside its overlap: consumers may still use its credential, and no single person may end it early. Rotate after its overlap ends (the retirement then frees the slot), or as an emergency with two-person approval`, { status: 409 });
  }
  return { retireFirst };
}

/** The slot a retiring version's credential lives in, when no other live version shares it:
 * retirement then regenerates (or disables) that slot. An untagged version (the secret as it was
 * registered) holds `untaggedSlot`, the provider's first slot, as nextSlot assumes. Undefined =
 * nothing to do at the provider (the slot a live version still hands out). */
export function slotToRetire(versions: readonly SlotVersion[], retiring: string, untaggedSlot?: string): string | undefined {
  const v = versions.find((x) => x.version === retiring);
  const slot = v ? (v.slot ?? untaggedSlot) : undefined;
  if (!slot) return undefined;
  const sharedWithLive = versions.some((x) => x.version !== retiring && (x.slot ?? untaggedSlot) === slot && (x.state === "primary" || x.state === "secondary"));
  return sharedWithLive ? undefined : slot;
}

// ---- connection strings -------------------------------------------------------------------------

/** The PostgreSQL connection string a consumer holds: a libpq URI with the login's password. */
export function postgresConnectionString(spec: ProviderSpecOf<"postgresPassword">, login: string, password: string): string {
  const u = new URL(`postgresql://${spec.host}`);
  u.username = login;
  u.password = password;
  u.port = String(spec.port);
  u.pathname = `/${spec.database}`;
  u.searchParams.set("sslmode", spec.sslmode);
  return u.toString();
}

export function storageConnectionString(spec: ProviderSpecOf<"storageAccountKey">, key: string): string {
  return `DefaultEndpointsProtocol=https;AccountName=${spec.account};AccountKey=${key};EndpointSuffix=${spec.endpointSuffix}`;
}

export function cosmosConnectionString(endpoint: string, key: string): string {
  return `AccountEndpoint=${endpoint};AccountKey=${key};`;
}
