// Secret providers whose credentials Azure Resource Manager regenerates, through the official ARM
// clients: storage account keys (key1/key2), Service Bus SAS rule keys (primary/secondary) and
// Cosmos DB account keys (primary/secondary or the read-only pair). The secret holds the
// connection string of one slot (Cosmos DB's with the endpoint ARM states for the account);
// validate() asks ARM whether that slot still holds its key.
import { CosmosDBManagementClient } from "@azure/arm-cosmosdb";
import { ServiceBusManagementClient } from "@azure/arm-servicebus";
import { StorageManagementClient } from "@azure/arm-storage";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { DependencyUnavailableError, InvalidRequestError, InvariantViolationError } from "../domain/errors";
import { cosmosConnectionString, storageConnectionString, type ProviderSpecOf } from "../domain/secretProviders";
import type { CredentialCheck, ProviderIssuedCredentials } from "./port";

export interface ArmConnection {
  credential: TokenCredential;
  /** ARM endpoint; default https://management.azure.com (a local peer elsewhere). */
  endpoint?: string;
  /** PEM of a private CA to trust (the local peer's). */
  ca?: string;
}

/** ARM's own answers, translated once: 4xx is the caller's (policy's) fault, the rest transient. */
function armError(what: string, err: unknown): Error {
  const status = (err as { statusCode?: unknown }).statusCode;
  const code = (err as { code?: unknown }).code;
  const message = `[keyrotor] [secrets] ARM ${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new InvalidRequestError(typeof code === "string" ? `Arm${code}` : "ArmRequestRefused", message, { status: status === 404 ? 404 : status === 401 || status === 403 ? 403 : 400, cause: err });
  }
  return new DependencyUnavailableError("arm", message, { cause: err });
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw armError(what, err);
  }
}

/** The public cloud's ARM token scope. Set explicitly for every client: the classic clients
 * (Service Bus) derive the scope from a custom endpoint otherwise (the local peer's URL), and ARM
 * refuses a token for any other audience. */
const ARM_SCOPE = "https://management.azure.com/.default";

/** Sovereign clouds' Resource Manager hosts (infra sets the endpoint to environment().resourceManager):
 * their ARM accepts only a token for itself. */
const SOVEREIGN_ARM_HOSTS: ReadonlySet<string> = new Set(["management.usgovcloudapi.net", "management.chinacloudapi.cn"]);

function armScope(endpoint: string | undefined): string {
  const host = endpoint && URL.canParse(endpoint) ? new URL(endpoint).hostname.toLowerCase() : undefined;
  return host && SOVEREIGN_ARM_HOSTS.has(host) ? `https://${host}/.default` : ARM_SCOPE;
}

function clientOptions(c: ArmConnection): { endpoint?: string; tlsOptions?: { ca: string }; credentials: { scopes: string[] }; credentialScopes: string[] } {
  const scope = armScope(c.endpoint);
  return { ...(c.endpoint ? { endpoint: c.endpoint } : {}), ...(c.ca ? { tlsOptions: { ca: c.ca } } : {}), credentials: { scopes: [scope] }, credentialScopes: [scope] };
}

/** The value of `name` in a `k=v;k=v` connection string. */
export function connectionPart(connection: string, name: string): string | undefined {
  for (const part of connection.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim().toLowerCase() === name.toLowerCase()) return part.slice(i + 1);
  }
  return undefined;
}

function checkKey(current: readonly (string | undefined)[], key: string | undefined): CredentialCheck {
  if (!key) return { ok: false, reason: "the secret holds no key" };
  return current.includes(key) ? { ok: true } : { ok: false, reason: "no key slot at the provider holds this key any more" };
}

function slotOf<T extends string>(slots: readonly T[], slot: string, kind: string): T {
  const s = slots.find((x) => x === slot);
  if (!s) throw new InvariantViolationError("SlotUnknown", `[keyrotor] [secrets] ${kind} has no slot ${slot}`);
  return s;
}

// ---- Storage -----------------------------------------------------------------------------------

export function storageAccountKeyProvider(spec: ProviderSpecOf<"storageAccountKey">, c: ArmConnection): ProviderIssuedCredentials {
  const client = new StorageManagementClient(c.credential, spec.subscriptionId, clientOptions(c));
  const slots = ["key1", "key2"] as const;
  const where = `Microsoft.Storage/storageAccounts/${spec.account}`;
  const keys = async (): Promise<Map<string, string>> => {
    const r = await call(`listKeys ${where}`, () => client.storageAccounts.listKeys(spec.resourceGroup, spec.account));
    return new Map((r.keys ?? []).map((k) => [k.keyName ?? "", k.value ?? ""]));
  };
  const valueOf = (m: Map<string, string>, slot: string): string => {
    const key = m.get(slot);
    if (!key) throw new DependencyUnavailableError("arm", `[keyrotor] [secrets] ARM listKeys ${where} returned no ${slot}`);
    return storageConnectionString(spec, key);
  };
  return {
    kind: "storageAccountKey", issuer: "provider", slots,
    read: async (slot) => valueOf(await keys(), slotOf(slots, slot, "storageAccountKey")),
    async regenerate(slot) {
      const keyName = slotOf(slots, slot, "storageAccountKey");
      const r = await call(`regenerateKey ${where}`, () => client.storageAccounts.regenerateKey(spec.resourceGroup, spec.account, { keyName }));
      return valueOf(new Map((r.keys ?? []).map((k) => [k.keyName ?? "", k.value ?? ""])), keyName);
    },
    validate: async (credential) => checkKey([...(await keys()).values()], connectionPart(credential, "AccountKey")),
    async retire(slot) {
      const keyName = slotOf(slots, slot, "storageAccountKey");
      await call(`regenerateKey ${where}`, () => client.storageAccounts.regenerateKey(spec.resourceGroup, spec.account, { keyName }));
    },
  };
}

// ---- Service Bus -------------------------------------------------------------------------------

export function serviceBusSasProvider(spec: ProviderSpecOf<"serviceBusSas">, c: ArmConnection): ProviderIssuedCredentials {
  const client = new ServiceBusManagementClient(c.credential, spec.subscriptionId, clientOptions(c));
  const slots = ["primary", "secondary"] as const;
  const where = `Microsoft.ServiceBus/namespaces/${spec.namespace}${spec.queue ? `/queues/${spec.queue}` : spec.topic ? `/topics/${spec.topic}` : ""}/authorizationRules/${spec.rule}`;
  const rg = spec.resourceGroup;
  type Keys = { primaryConnectionString?: string; secondaryConnectionString?: string; primaryKey?: string; secondaryKey?: string };
  const listKeys = (): Promise<Keys> => call(`listKeys ${where}`, () =>
    spec.queue ? client.queues.listKeys(rg, spec.namespace, spec.queue, spec.rule)
      : spec.topic ? client.topics.listKeys(rg, spec.namespace, spec.topic, spec.rule)
        : client.namespaces.listKeys(rg, spec.namespace, spec.rule));
  const regenerateKeys = (slot: string): Promise<Keys> => {
    const keyType = slotOf(slots, slot, "serviceBusSas") === "primary" ? "PrimaryKey" : "SecondaryKey";
    return call(`regenerateKeys ${where}`, () =>
      spec.queue ? client.queues.regenerateKeys(rg, spec.namespace, spec.queue, spec.rule, { keyType })
        : spec.topic ? client.topics.regenerateKeys(rg, spec.namespace, spec.topic, spec.rule, { keyType })
          : client.namespaces.regenerateKeys(rg, spec.namespace, spec.rule, { keyType }));
  };
  const valueOf = (k: Keys, slot: string): string => {
    const v = slot === "primary" ? k.primaryConnectionString : k.secondaryConnectionString;
    if (!v) throw new DependencyUnavailableError("arm", `[keyrotor] [secrets] ARM listKeys ${where} returned no ${slot} connection string`);
    return v;
  };
  return {
    kind: "serviceBusSas", issuer: "provider", slots,
    read: async (slot) => valueOf(await listKeys(), slotOf(slots, slot, "serviceBusSas")),
    regenerate: async (slot) => valueOf(await regenerateKeys(slot), slot),
    async validate(credential) {
      const k = await listKeys();
      return checkKey([k.primaryKey, k.secondaryKey], connectionPart(credential, "SharedAccessKey"));
    },
    async retire(slot) {
      await regenerateKeys(slot);
    },
  };
}

// ---- Cosmos DB ---------------------------------------------------------------------------------

/** An https origin with a DNS name (and a port), nothing else: no credentials, path, query, or
 * `;` that would add parts to the connection string it goes into. */
const DOCUMENT_ENDPOINT = /^https:\/\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)(?::(\d{1,5}))?\/?$/i;

/**
 * The account's data endpoint as ARM states it (`properties.documentEndpoint`), never built from
 * the account's name: sovereign clouds (documents.azure.us, documents.azure.cn) and custom
 * endpoints differ. An answer that is not an https origin is refused before any key is touched: a
 * connection string pointing elsewhere would hand the new key to whoever answers there.
 */
export function cosmosDocumentEndpoint(value: unknown, where: string): string {
  const m = typeof value === "string" ? DOCUMENT_ENDPOINT.exec(value) : null;
  const port = m?.[2] === undefined ? 443 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : String(value);
    throw new InvariantViolationError("CosmosEndpointInvalid", `[keyrotor] [secrets] ARM get ${where} answered documentEndpoint ${shown}, not an https endpoint (https://<host>[:port]/); no key was regenerated`);
  }
  return value as string;
}

/** Same scheme, host and port (https://a.example:443/ is https://A.example). */
function sameOrigin(a: string, b: string): boolean {
  return URL.canParse(a) && URL.canParse(b) && new URL(a).origin === new URL(b).origin;
}

export function cosmosDbKeyProvider(spec: ProviderSpecOf<"cosmosDbKey">, c: ArmConnection): ProviderIssuedCredentials {
  const client = new CosmosDBManagementClient(c.credential, spec.subscriptionId, clientOptions(c));
  const slots = spec.readOnly ? (["primaryReadonly", "secondaryReadonly"] as const) : (["primary", "secondary"] as const);
  const where = `Microsoft.DocumentDB/databaseAccounts/${spec.account}`;
  // Read on every use (one GET), not cached: a provider lives for one activity call.
  const endpoint = async (): Promise<string> => {
    const account = await call(`get ${where}`, () => client.databaseAccounts.get(spec.resourceGroup, spec.account));
    return cosmosDocumentEndpoint(account.documentEndpoint, where);
  };
  const keys = async (): Promise<Record<string, string | undefined>> => {
    const k = await call(`listKeys ${where}`, () => client.databaseAccounts.listKeys(spec.resourceGroup, spec.account));
    return { primary: k.primaryMasterKey, secondary: k.secondaryMasterKey, primaryReadonly: k.primaryReadonlyMasterKey, secondaryReadonly: k.secondaryReadonlyMasterKey };
  };
  const valueOf = (at: string, k: Record<string, string | undefined>, slot: string): string => {
    const key = k[slot];
    if (!key) throw new DependencyUnavailableError("arm", `[keyrotor] [secrets] ARM listKeys ${where} returned no ${slot} key`);
    return cosmosConnectionString(at, key);
  };
  const regenerate = async (slot: string): Promise<void> => {
    const keyKind = slotOf(slots, slot, "cosmosDbKey");
    // A long-running operation: the poller follows Azure-AsyncOperation until it succeeds.
    await call(`regenerateKey ${where}`, async () => { await client.databaseAccounts.regenerateKey(spec.resourceGroup, spec.account, { keyKind }); });
  };
  return {
    kind: "cosmosDbKey", issuer: "provider", slots,
    async read(slot) {
      const s = slotOf(slots, slot, "cosmosDbKey");
      return valueOf(await endpoint(), await keys(), s);
    },
    async regenerate(slot) {
      // The endpoint first: an account ARM answers badly for gets no new key.
      const at = await endpoint();
      await regenerate(slot);
      return valueOf(at, await keys(), slot);
    },
    async validate(credential) {
      // A current key sent to another endpoint authenticates nowhere (and hands the key to it).
      const at = await endpoint();
      const stated = connectionPart(credential, "AccountEndpoint");
      if (!stated || !sameOrigin(stated, at)) return { ok: false, reason: `the secret's AccountEndpoint is not the account's documentEndpoint ${at}` };
      const k = await keys();
      return checkKey(slots.map((s) => k[s]), connectionPart(credential, "AccountKey"));
    },
    retire: regenerate,
  };
}

// ---- credentials -------------------------------------------------------------------------------

/** For the local ARM peer only: a token for exactly the resource asked for (the peer checks the
 * audience like ARM does; it checks no signature, and nothing in Azure accepts this token). */
export const localArmPeerCredential: TokenCredential = {
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? (scopes[0] ?? "") : scopes;
    const aud = scope.replace(/\/\.default$/, "");
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return { token: `${part({ alg: "none", typ: "JWT" })}.${part({ aud, exp, oid: "keyrotor-local" })}.`, expiresOnTimestamp: exp * 1000 };
  },
};
