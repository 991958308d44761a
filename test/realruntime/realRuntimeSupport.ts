// Shared by the tests that run the app on the real Durable extension (dev/durable-runtime, issue 16):
// they run wherever dotnet and the built harness exist, and skip with a printed notice elsewhere.
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, inject, it } from "vitest";
import type { DurableClient } from "durable-functions";
import { realRuntimeUnavailable, startRealRuntime, type HttpAnswer, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { durableClient } from "../../dev/durable-runtime/node/client";
import type { ApiServices } from "../../lib/api/ports";
import { appHookDataFor } from "../../dev/app/composition";
import { compose, type Composition } from "../../lib/compose";
import { loadConfig, type Config } from "../../lib/config";
import { encodePrincipal } from "../../lib/http/principal";
import type { RotationDeps } from "../../lib/orchestration/deps";
import { DekStore } from "../../lib/stores/dekStore";
import { Inventory } from "../../lib/stores/inventory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { tableClient } from "../../lib/stores/tables";
import { uniqueTableName } from "../support/tables";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../lib/envelope/dekRecord";
import { seedVaultKey, startPeers, TENANT, TOPIC, VAULT, type Peers, type SeededKek, type Stack } from "../e2e/rotation/stack";

const unavailable = realRuntimeUnavailable();

/** describe() when the real runtime can run here; otherwise one visibly skipped test and a notice. */
export function describeRealRuntime(title: string, body: () => void): void {
  describe(`${title} (real Durable extension)`, () => {
    if (unavailable) {
      // Printed to stderr directly so the notice shows through the reporter's silencing of logs.
      process.stderr.write(`[keyrotor] [durable-runtime] ${unavailable}: "${title}" on the real Durable extension is SKIPPED\n`);
      it.skip(`SKIPPED, real Durable runtime unavailable: ${unavailable}`, () => {});
      return;
    }
    body();
  });
}

export { durableClient, waitForEnd } from "../../dev/durable-runtime/node/client";

/** Prints how long a scenario took on the real runtime (stderr, so it shows through the reporter):
 * CI time is budgeted per scenario. */
export function reportSeconds(scenario: string, startedAt: number): number {
  const seconds = Math.round((Date.now() - startedAt) / 100) / 10;
  process.stderr.write(`[keyrotor] [durable-runtime] ${scenario}: ${seconds} s on the real Durable extension\n`);
  return seconds;
}

/** The app's every function file (HTTP, timer and durable), as the Functions worker loads them. */
export const ALL_FUNCTIONS = readdirSync(path.resolve(__dirname, "../../functions")).filter((f) => f.endsWith(".ts")).sort()
  .map((f) => path.resolve(__dirname, "../../functions", f));

/** The whole app on the real Durable extension: its tables in the tests' Azurite, the Key Vault and
 * Service Bus peers, the app's own composition from settings alone (compose(cfg), handed to it at
 * appStart as in Azure), every function loaded; the API's HTTP functions and the policy timer are
 * invoked in this process with the real extension's durable client binding. */
export interface RealApp {
  peers: Peers;
  cfg: Config;
  composition: Composition;
  deps: RotationDeps;
  services: ApiServices;
  rt: RealRuntime;
  client: DurableClient;
  /** The parts of test/e2e/rotation's Stack its seeding and checking helpers read. */
  stack: Stack;
  policies: PolicyStore;
  /** `as`: [name, ...roles] of the Easy Auth principal. */
  call(method: string, path: string, opts?: { as?: [string, ...string[]]; body?: unknown }): Promise<Omit<HttpAnswer, "json"> & { json(): Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startRealApp(opts: { taskHub: string; peers?: Peers; env?: Record<string, string>; settings?: Record<string, string> }): Promise<RealApp> {
  const peers = opts.peers ?? (await startPeers());
  const cfg = loadConfig({
    KEYROTOR_TABLES_CONNECTION: inject("azuriteConnectionString"),
    KEYROTOR_TABLE_POLICIES: uniqueTableName("pol"), KEYROTOR_TABLE_INVENTORY: uniqueTableName("inv"), KEYROTOR_TABLE_DEKS: uniqueTableName("dek"),
    KEYROTOR_TABLE_LEDGER: uniqueTableName("led"), KEYROTOR_TABLE_SEALS: uniqueTableName("seal"), KEYROTOR_TABLE_APPROVALS: uniqueTableName("appr"),
    KEYROTOR_TABLE_JWKS: uniqueTableName("jwks"), KEYROTOR_TABLE_LOCKS: uniqueTableName("lock"),
    KEYROTOR_VAULT_URLS: `${VAULT}=${peers.vault.url}`, KEYROTOR_KEYVAULT_CA_FILE: peers.caFile, KEYROTOR_KEYVAULT_CREDENTIAL: "local-peer",
    KEYROTOR_SERVICEBUS_CONNECTION: peers.bus.connectionString, KEYROTOR_EVENTS_TOPIC: TOPIC, KEYROTOR_SEAL_KEY_ID: peers.sealKeyId,
    KEYROTOR_TABLE_BRANCH_KEYS: uniqueTableName("bk"), KEYROTOR_TABLE_BRANCH_DEKS: uniqueTableName("bd"),
    // More of the app's settings (e.g. the key hierarchy's signing key), over these.
    ...opts.settings,
  });
  // The app's own composition from these settings, handed to it at appStart as a worker builds it.
  const app = await compose(cfg);
  const deps = app.rotation;
  const services = app.api;
  const policies = new PolicyStore(tableClient(cfg, "policies"));
  await policies.put({ policyId: "kek-policy", tenant: TENANT, kinds: ["kek", "dek", "signing", "secret"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", rollbackWindow: "P7D" }, undefined);
  const stack = { cfg, deps, policies, inventory: new Inventory(tableClient(cfg, "inventory"), policies), dekStore: new DekStore(tableClient(cfg, "deks")) } as unknown as Stack;
  // The policy timer's registration reads its schedule (the Functions host would fire it).
  process.env.KEYROTOR_TIMER_SCHEDULE ??= "0 */15 * * * *";
  // The harness runs the app's appStart hooks once the app is loaded, as the Functions host does.
  const rt = await startRealRuntime({ entries: ALL_FUNCTIONS, taskHub: opts.taskHub, appHookData: appHookDataFor(app), ...(opts.env ? { env: opts.env } : {}) });
  return {
    peers, cfg, composition: app, deps, services, rt, stack, policies,
    get client() {
      return durableClient(rt.client);
    },
    call: async (method, p, o = {}) => {
      const headers: Record<string, string> = method === "GET" ? {} : { "content-type": "application/json" };
      if (o.as) headers["x-ms-client-principal"] = encodePrincipal(o.as[0], o.as.slice(1));
      const r = await rt.invokeHttp(method, p, { headers, ...(o.body !== undefined ? { body: o.body } : {}) });
      return { ...r, json: () => r.json() as Record<string, unknown> };
    },
    stop: async () => {
      await rt.stop(); // its appTerminate hooks close the composition
      if (!opts.peers) await peers.stop();
    },
  };
}

/**
 * Settings of the extension (bound from configuration as the Functions host binds host.json's
 * extensions.durableTask) for the crash tests: a message dequeued by a killed host reappears after
 * its queue's visibility timeout (default 5 minutes; AzureStorageOptions.Validate refuses less than
 * 1 minute); the minimum here keeps a restart's recovery within CI time. Activities renew their
 * message while they run.
 */
export const CRASH_RECOVERY_ENV: Record<string, string> = {
  AzureWebJobs__Extensions__DurableTask__StorageProvider__ControlQueueVisibilityTimeout: "00:01:00",
  AzureWebJobs__Extensions__DurableTask__StorageProvider__WorkItemQueueVisibilityTimeout: "00:01:00",
};

/** test/e2e/rotation's seedKekWithDeks with tenants of the key's own (`<name>-t<i>`): several KEKs
 * seeded into one DEK table do not overwrite each other's DEKs or tenant primaries. */
export async function seedOwnKek(app: RealApp, tenants: number, perTenant: number, name: string): Promise<SeededKek> {
  const { keyId, v1 } = await seedVaultKey(app.stack, app.peers, "kek", name);
  const plaintexts = new Map<string, Map<number, Buffer>>();
  const records: DekRecord[] = [];
  for (let t = 0; t < tenants; t++) {
    const tenant = `${name}-t${t}`;
    const mine = new Map<number, Buffer>();
    plaintexts.set(tenant, mine);
    for (let n = 1; n <= perTenant; n++) {
      const plain = randomBytes(32);
      mine.set(n, plain);
      const wrapped = await app.deps.vault.wrapKey(VAULT, name, v1, plain);
      records.push({
        format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(n), dekVersion: n, kekKeyId: keyId, kekVersion: v1, alg: "RSA-OAEP-256",
        wrapped: wrapped.toString("base64url"), createdAt: new Date().toISOString(), state: n === perTenant ? "primary" : "secondary",
      });
    }
  }
  const store = app.stack.dekStore;
  await store.putMany(records.filter((r) => r.state !== "primary"));
  for (const r of records) if (r.state === "primary") await store.addPrimary(r);
  return { keyId, name, v1, plaintexts };
}
