// The demo's provider secrets, one of each kind, seeded once beside the demo seed (dev/seed):
//   secret:demo-vault/storage-conn   a storage account's key1/key2       (ARM peer, @azure/arm-storage)
//   secret:demo-vault/bus-conn       a Service Bus rule's primary/secondary (ARM peer, @azure/arm-servicebus)
//   secret:demo-vault/cosmos-conn    a Cosmos DB account's primary/secondary (ARM peer, @azure/arm-cosmosdb)
//   secret:demo-vault/orders-db      PostgreSQL logins app_a/app_b        (the local server, pg)
// Each Key Vault secret starts with the first slot's credential (tagged with it), under a policy
// naming its provider. Every step is idempotent (fixed rotationId, create-if-absent) and a marker row
// written last says the seed is complete.
//
// Every start then checks that the stand-ins and Key Vault agree: each secret's primary version must
// authenticate at its provider. They disagree when one state file was deleted or edited and not the
// others (.keyrotor/keyvault-peer.json, arm-peer.json, postgres/): the start is refused, naming the
// secret and the files, rather than running rotations against credentials that no longer exist.
import { randomBytes } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import type { Config } from "../../lib/config";
import { RotationConflictError } from "../../lib/domain/errors";
import type { ManagedKey } from "../../lib/domain/keys";
import type { PolicyInput } from "../../lib/domain/policy";
import { parseSecretProvider, slotsOf, type SecretProviderInput, type SecretProviderSpec } from "../../lib/domain/secretProviders";
import { secretProvidersFrom } from "../../lib/secrets/compose";
import { Inventory } from "../../lib/stores/inventory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { ensureTable, statusOf, tableClient } from "../../lib/stores/tables";
import { keyVaultFor } from "../../lib/vault/keyVault";
import { hostTable, SEED_TABLE } from "../app/tables";
import { DEMO_SECRETS } from "./standIns";

const MARKER = "provider-secrets-v1";
const SEED_ROTATION = "seed:provider-secrets-v1";
const DAY = 86_400_000;

export interface DemoSecret {
  name: string;
  keyId: string;
  policyId: string;
  what: string;
  provider: SecretProviderInput;
}

/** The four demo secrets (the PostgreSQL one names the port the server runs on). */
export function demoSecrets(vault: string, postgresPort: number): DemoSecret[] {
  const d = DEMO_SECRETS;
  const arm = { subscriptionId: d.subscriptionId, resourceGroup: d.resourceGroup };
  const v = vault.toLowerCase();
  const one = (name: string, policyId: string, what: string, provider: SecretProviderInput): DemoSecret => ({ name, keyId: `secret:${v}/${name}`, policyId, what, provider });
  return [
    one("storage-conn", "storage-keys", `storage account ${d.storageAccount} key1/key2 (ARM peer)`, { kind: "storageAccountKey", ...arm, account: d.storageAccount }),
    one("bus-conn", "servicebus-keys", `Service Bus ${d.serviceBusNamespace}/${d.serviceBusRule} primary/secondary (ARM peer)`, { kind: "serviceBusSas", ...arm, namespace: d.serviceBusNamespace, rule: d.serviceBusRule }),
    one("cosmos-conn", "cosmos-keys", `Cosmos DB ${d.cosmosAccount} primary/secondary (ARM peer)`, { kind: "cosmosDbKey", ...arm, account: d.cosmosAccount }),
    one("orders-db", "orders-db-logins", `PostgreSQL ${d.database} logins ${d.logins.join("/")} (127.0.0.1:${postgresPort})`, {
      kind: "postgresPassword", host: "127.0.0.1", port: postgresPort, database: d.database, logins: d.logins, adminConnectionSetting: d.adminSetting, sslmode: "disable",
    }),
  ];
}

function policyOf(s: DemoSecret): PolicyInput {
  return {
    policyId: s.policyId, tenant: "platform", kinds: ["secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D",
    secret: { provider: s.provider }, description: `Demo: ${s.what}`,
  };
}

async function marked(table: TableClient): Promise<boolean> {
  try {
    await table.getEntity("seed", MARKER);
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

export interface ProviderSeedResult {
  seeded: boolean;
  secrets: DemoSecret[];
}

/** Seeds the four provider secrets unless done, then checks that each authenticates at its provider. */
export async function seedProviderSecrets(cfg: Config, opts: { postgresPort: number; stateDir: string; now?: Date; log?: (line: string) => void; markerTable?: TableClient; env?: NodeJS.ProcessEnv }): Promise<ProviderSeedResult> {
  const log = opts.log ?? (() => {});
  const vault = cfg.KEYROTOR_VAULT_URLS[0]!.name;
  const secrets = demoSecrets(vault, opts.postgresPort);
  const providers = secretProvidersFrom(cfg, opts.env);
  const kv = keyVaultFor(cfg, vault);
  const marks = await ensureTable(opts.markerTable ?? hostTable(cfg, SEED_TABLE));
  const policies = new PolicyStore(tableClient(cfg, "policies"));
  const inventory = new Inventory(tableClient(cfg, "inventory"), policies);
  const seeded = !(await marked(marks));
  if (seeded) {
    const now = (opts.now ?? new Date()).getTime();
    log(`seeding provider secrets: ${secrets.map((s) => s.name).join(", ")}`);
    for (const s of secrets) {
      const spec = parseSecretProvider(s.provider);
      const first = slotsOf(spec)[0];
      const provider = providers.for(spec);
      await policies.put(policyOf(s), "*");
      const tagged = { rotationId: SEED_ROTATION, tags: { slot: first }, expiresOn: new Date(now + 120 * DAY) };
      const made = provider.issuer === "provider"
        ? await kv.createSecretVersion(s.name, () => provider.read(first), tagged)
        : await kv.createSecretVersion(s.name, () => provider.compose(first, randomBytes(32).toString("base64url")), tagged);
      // A password is stored first, then set on the login (as a rotation does): a seed interrupted
      // in between sets the stored one on the next start.
      if (provider.issuer === "keyrotor") await provider.apply(first, (await kv.getSecret(s.name, made.secret.version)).value);
      const key: ManagedKey = {
        keyId: s.keyId, kind: "secret", tenant: "platform", policyId: s.policyId, primaryVersion: made.secret.version,
        versions: [{ version: made.secret.version, state: "primary", createdAt: (made.secret.createdOn ?? new Date(now)).toISOString(), rotationId: SEED_ROTATION, expiresAt: new Date(now + 120 * DAY).toISOString() }],
        lastRotatedAt: new Date(now).toISOString(), lastRotationId: SEED_ROTATION,
      };
      try {
        await inventory.create(key);
      } catch (err) {
        if (!(err instanceof RotationConflictError)) throw err;
      }
    }
    await marks.upsertEntity({ partitionKey: "seed", rowKey: MARKER, seededAt: new Date(now).toISOString() }, "Replace");
  }
  await checkAgreement(secrets, { stateDir: opts.stateDir, inventory, policies, providers, read: async (name, version) => (await kv.getSecret(name, version)).value });
  return { seeded, secrets };
}

/** Each seeded secret's primary version authenticates at its provider, or the start is refused. */
async function checkAgreement(
  secrets: DemoSecret[],
  d: {
    stateDir: string;
    inventory: Inventory;
    policies: PolicyStore;
    providers: ReturnType<typeof secretProvidersFrom>;
    read: (name: string, version: string) => Promise<string>;
  },
): Promise<void> {
  for (const s of secrets) {
    const row = await d.inventory.get(s.keyId);
    if (!row?.key.primaryVersion) continue; // removed by its owner: nothing to check
    const spec: SecretProviderSpec | undefined = (await d.policies.policyFor(row.key))?.secret?.provider;
    if (!spec) continue;
    const value = await d.read(s.name, row.key.primaryVersion);
    let reason: string | undefined;
    try {
      const check = await d.providers.for(spec).validate(value);
      if (!check.ok) reason = check.reason;
    } catch (err) {
      reason = (err as Error).message;
    }
    if (reason) {
      throw new Error(
        `[keyrotor] [start] ${s.keyId} (Key Vault version ${row.key.primaryVersion}) does not authenticate at its provider, ${s.what}: ${reason}. ` +
          `The stand-ins' state and Key Vault's disagree: one of keyvault-peer.json, arm-peer.json, postgres/ in ${d.stateDir} was deleted or changed without the others. ` +
          `Delete ${d.stateDir} to start over (or restore the file); KEYROTOR_SEED=false starts without the demo.`,
      );
    }
  }
}
