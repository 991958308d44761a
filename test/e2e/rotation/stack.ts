// The rotation engine on real parts: the in-process durable host (history in Azurite), the Key
// Vault peer and the Service Bus peer, reached by the real SDK clients through createRotationDeps(cfg)
// — the same composition the deployed app uses, built from settings alone.
import "../../../dev/host";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, inject } from "vitest";
import type { TableClient } from "@azure/data-tables";
import type { ServiceBusClient } from "@azure/service-bus";
import { ManualClock, startHost, TableHistoryStore, type DevHost } from "../../../dev/host";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { loadConfig, type Config } from "../../../lib/config";
import type { KeyKind, ManagedKey } from "../../../lib/domain/keys";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../../lib/envelope/dekRecord";
import { appHookDataFor } from "../../../dev/app/composition";
import { compose, type CompositionOverrides } from "../../../lib/compose";
import type { ConfiguredRotationDeps } from "../../../lib/orchestration/deps";
import { DURABLE } from "../../../lib/orchestration/names";
import { DekStore } from "../../../lib/stores/dekStore";
import { Inventory } from "../../../lib/stores/inventory";
import { PolicyStore } from "../../../lib/stores/policyStore";
import { tableClient } from "../../../lib/stores/tables";
import { keyClient, startTestVault } from "../../support/keyvault";
import { serviceBusClient, startTestServiceBus, type ServiceBusPeer } from "../../support/servicebus";
import { freshTable, uniqueTableName } from "../../support/tables";

export const VAULT = "demo-vault";
export const TENANT = "ops";
export const TOPIC = "key-rotation-events";
export const T0 = "2026-03-01T00:00:00Z";

export const FUNCTIONS = [
  ...Object.values(DURABLE.orchestrators), DURABLE.entities.keyLock, ...Object.values(DURABLE.activities),
].map((f) => path.resolve(__dirname, "../../../functions", `${f}.ts`));

/** Peers shared by one test file. */
export interface Peers {
  vault: KeyVaultPeer;
  bus: ServiceBusPeer;
  caFile: string;
  sealKeyId: string;
  stop(): Promise<void>;
}

export async function startPeers(): Promise<Peers> {
  const vault = await startTestVault();
  const bus = await startTestServiceBus({ topics: { [TOPIC]: ["audit"] }, duplicateDetectionWindowMs: 600_000 });
  const dir = mkdtempSync(path.join(tmpdir(), "keyrotor-e2e-"));
  const caFile = path.join(dir, "ca.pem");
  writeFileSync(caFile, vault.caPem);
  const seal = await keyClient(vault).createEcKey("ledger-seal", { curve: "P-256" });
  return { vault, bus, caFile, sealKeyId: seal.id!, stop: async () => {
    await bus.stop();
    await vault.stop();
  } };
}

export interface Stack {
  cfg: Config;
  deps: ConfiguredRotationDeps;
  host: DevHost;
  history: TableClient;
  /** Host and app log lines. */
  logs: string[];
  inventory: Inventory;
  dekStore: DekStore;
  policies: PolicyStore;
  bus: ServiceBusClient;
  stop(): Promise<void>;
}

/** Fresh tables (unique names), deps from settings only, a host with its history in Azurite. */
export async function startStack(peers: Peers, opts: {
  clock?: ManualClock; wrapDeps?: (d: ConfiguredRotationDeps) => void;
  /** More settings (e.g. the key hierarchy's), over the stack's own. */
  env?: Record<string, string>;
  /** The function files to load (default: the durable ones, no HTTP). */
  functions?: string[];
  compose?: CompositionOverrides;
} = {}): Promise<Stack> {
  const cfg = loadConfig({
    KEYROTOR_TABLES_CONNECTION: inject("azuriteConnectionString"),
    KEYROTOR_TABLE_POLICIES: uniqueTableName("pol"), KEYROTOR_TABLE_INVENTORY: uniqueTableName("inv"), KEYROTOR_TABLE_DEKS: uniqueTableName("dek"),
    KEYROTOR_TABLE_LEDGER: uniqueTableName("led"), KEYROTOR_TABLE_SEALS: uniqueTableName("seal"), KEYROTOR_TABLE_APPROVALS: uniqueTableName("appr"), KEYROTOR_TABLE_JWKS: uniqueTableName("jwks"), KEYROTOR_TABLE_LOCKS: uniqueTableName("lock"),
    KEYROTOR_TABLE_BRANCH_KEYS: uniqueTableName("bk"), KEYROTOR_TABLE_BRANCH_DEKS: uniqueTableName("bd"),
    KEYROTOR_VAULT_URLS: `${VAULT}=${peers.vault.url}`, KEYROTOR_KEYVAULT_CA_FILE: peers.caFile, KEYROTOR_KEYVAULT_CREDENTIAL: "local-peer",
    KEYROTOR_SERVICEBUS_CONNECTION: peers.bus.connectionString, KEYROTOR_EVENTS_TOPIC: TOPIC, KEYROTOR_SEAL_KEY_ID: peers.sealKeyId,
    ...opts.env,
  });
  // The app's own composition from these settings, as a deployed worker builds it.
  const app = await compose(cfg, opts.compose);
  const deps = app.rotation;
  opts.wrapDeps?.(deps);
  const logs: string[] = [];
  const history = await freshTable("hist");
  const host = await startHost({ entry: opts.functions ?? FUNCTIONS, appHookData: appHookDataFor(app), store: new TableHistoryStore(history), log: (l) => logs.push(l), ...(opts.clock ? { clock: opts.clock } : {}) });
  const policies = new PolicyStore(tableClient(cfg, "policies"), () => new Date(T0));
  await policies.put({ policyId: "kek-policy", tenant: TENANT, kinds: ["kek", "dek", "signing", "secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", rollbackWindow: "P7D" }, undefined);
  const bus = serviceBusClient(peers.bus);
  return {
    cfg, deps, host, history, logs, policies, bus,
    inventory: new Inventory(tableClient(cfg, "inventory"), policies),
    dekStore: new DekStore(tableClient(cfg, "deks")),
    stop: async () => {
      await host.stop(); // appTerminate closes the composition
      await bus.close();
    },
  };
}

/** A managed key with one version in the vault, registered in the inventory. */
export async function seedVaultKey(s: Stack, peers: Peers, kind: Extract<KeyKind, "kek" | "signing">, name: string): Promise<{ keyId: string; v1: string }> {
  const created = kind === "kek"
    ? await keyClient(peers.vault).createRsaKey(name, { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] })
    : await keyClient(peers.vault).createEcKey(name, { curve: "P-256", keyOps: ["sign", "verify"] });
  const v1 = created.properties.version!;
  const keyId = `${kind}:${VAULT}/${name}`;
  await register(s, { keyId, kind, tenant: TENANT, policyId: "kek-policy", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: created.properties.createdOn!.toISOString() }] });
  return { keyId, v1 };
}

export async function register(s: Stack, key: ManagedKey): Promise<void> {
  await s.inventory.create(key);
}

export interface SeededKek {
  keyId: string;
  name: string;
  v1: string;
  /** tenant → dekVersion → plaintext (the test's own copy, to prove readability and to scan for). */
  plaintexts: Map<string, Map<number, Buffer>>;
}

/** A KEK with `tenants` × `perTenant` DEKs wrapped under its first version. */
export async function seedKekWithDeks(s: Stack, peers: Peers, tenants: number, perTenant: number, name = "tenant-kek"): Promise<SeededKek> {
  const { keyId, v1 } = await seedVaultKey(s, peers, "kek", name);
  const plaintexts = new Map<string, Map<number, Buffer>>();
  const records: DekRecord[] = [];
  for (let t = 0; t < tenants; t++) {
    const tenant = `tenant-${t}`;
    const mine = new Map<number, Buffer>();
    plaintexts.set(tenant, mine);
    for (let n = 1; n <= perTenant; n++) {
      const plain = randomBytes(32);
      mine.set(n, plain);
      const wrapped = await s.deps.vault.wrapKey(VAULT, name, v1, plain);
      records.push({
        format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(n), dekVersion: n, kekKeyId: keyId, kekVersion: v1, alg: "RSA-OAEP-256",
        wrapped: wrapped.toString("base64url"), createdAt: T0, state: n === perTenant ? "primary" : "secondary",
      });
    }
  }
  // The tenant's newest DEK is its primary, through the store's pointer as in production.
  await s.dekStore.putMany(records.filter((r) => r.state !== "primary"));
  for (const r of records) if (r.state === "primary") await s.dekStore.addPrimary(r);
  return { keyId, name, v1, plaintexts };
}

/** Unwraps every seeded DEK through the vault: which KEK versions they are under, and how many
 * did not come back as their original plaintext. */
export async function checkDeks(s: Stack, seeded: SeededKek): Promise<{ versions: Set<string>; mismatches: number; count: number }> {
  const versions = new Set<string>();
  let mismatches = 0;
  let count = 0;
  for (const [tenant, mine] of seeded.plaintexts) {
    const jobs = [...mine].map(async ([n, plain]) => {
      const dek = await s.dekStore.get(tenant, dekIdFor(n));
      if (!dek) {
        mismatches++;
        return;
      }
      versions.add(dek.kekVersion);
      const back = await s.deps.vault.unwrapKey(VAULT, seeded.name, dek.kekVersion, Buffer.from(dek.wrapped, "base64url"));
      if (!back.equals(plain)) mismatches++;
      count++;
    });
    await Promise.all(jobs);
  }
  return { versions, mismatches, count };
}

export async function ledgerEntries(s: Stack, keyId: string): Promise<{ entryId: string; type: string; details?: Record<string, unknown> }[]> {
  const out = [];
  for await (const e of s.deps.ledger.entries(keyId)) out.push(e);
  return out;
}

/** Every message the rotation published, drained from the topic's subscription. */
export async function drainEvents(s: Stack): Promise<{ messageId: string; body: unknown }[]> {
  const receiver = s.bus.createReceiver(TOPIC, "audit", { receiveMode: "receiveAndDelete" });
  const out: { messageId: string; body: unknown }[] = [];
  try {
    for (;;) {
      const batch = await receiver.receiveMessages(200, { maxWaitTimeInMs: 300 });
      if (batch.length === 0) break;
      for (const m of batch) out.push({ messageId: String(m.messageId), body: m.body });
    }
  } finally {
    await receiver.close();
  }
  return out;
}

/** Everything the host persisted — instance rows (input, output, custom status), each instance's
 * history as the store reads it back, entity state — plus the raw table rows, as text. */
export async function historyText(s: Stack): Promise<string> {
  const parts: unknown[] = [];
  for (const row of await s.host.store.listInstances()) {
    parts.push(row, await s.host.store.readHistory(row.instanceId, row.executionId, row.historyLength));
  }
  for await (const e of s.history.listEntities()) parts.push(e);
  return JSON.stringify(parts);
}

/** The encodings a leaked key or secret could appear in. */
export function encodings(b: Buffer): string[] {
  return [b.toString("hex"), b.toString("base64"), b.toString("base64url")];
}

export interface StackSuite {
  /** The file's peers (started before its first test). */
  readonly peers: Peers;
  /** Starts a stack on the file's peers; it is stopped after the test that started it. */
  start(opts?: Parameters<typeof startStack>[1]): Promise<Stack>;
}

/** The hooks every file of stack tests needs: its peers once per file, each test's stack stopped
 * after that test (even when the test fails). */
export function stackSuite(): StackSuite {
  let peers: Peers | undefined;
  let current: Stack | undefined;
  beforeAll(async () => {
    peers = await startPeers();
  });
  afterAll(async () => {
    await peers?.stop();
  });
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  const started = (): Peers => {
    if (!peers) throw new Error("[test] the peers are not started yet (use the suite inside a test)");
    return peers;
  };
  return {
    get peers() {
      return started();
    },
    async start(opts) {
      current = await startStack(started(), opts);
      return current;
    },
  };
}
