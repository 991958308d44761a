// `npm start`: the whole app on one machine. Azurite (tables, persisted), the Key Vault peer and
// the Service Bus peer stand in for Azure — each only when its setting is not already given, so the
// same host runs against real Azure from a laptop — and the in-process host serves every function
// on http://127.0.0.1:7071. The first start seeds a demo (dev/seed); a restart keeps all state.
// SIGINT/SIGTERM stop everything and free the ports; so does the end of whatever launched it
// (dev/peers/lifetime.ts), and no stand-in outlives this process (Azurite watches it). A port that is
// taken when it starts — by a leftover of an earlier run or anything else — is refused, never used.
//
// With the demo seed and the Key Vault peer, the provider secrets' stand-ins run too (dev/startSecrets):
// the ARM peer and a PostgreSQL, both keeping their state under the state directory.
//
// Dev-only overrides (the defaults are the contract): PORT (7071), KEYROTOR_AZURITE_PORT (10002),
// KEYROTOR_KEYVAULT_PEER_PORT (8443), KEYROTOR_SERVICEBUS_PEER_PORT (5672), KEYROTOR_STATE_DIR
// (.keyrotor), KEYROTOR_SEED (set to "false" to start without the demo seed), KEYROTOR_ARM_PEER_PORT
// (a free one), KEYROTOR_POSTGRES_PORT (the one the first start got).
import "./host"; // FIRST: installs @azure/functions-core before anything loads @azure/functions
import path from "node:path";
import { startHost, TableHistoryStore, type DevHost } from "./host";
import { newSystemKey } from "./host/systemKeys";
import { startAzuriteTables, type AzuriteTables } from "./peers/azurite/launcher";
import { ensurePortFree } from "./peers/ports";
import { watchLaunchers } from "./peers/lifetime";
import { startKeyVaultPeer, type KeyVaultPeer } from "./peers/keyvault";
import { startServiceBusPeer, type ServiceBusPeer } from "./peers/servicebus";
import { loadConfig, type Config } from "../lib/config";
import { encodePrincipal } from "../lib/http/principal";
import { appHookDataFor, composeLocalApp } from "./app/composition";
import { functionModules } from "./app/functions";
import { HISTORY_TABLE, hostTable } from "./app/tables";
import { demoKeyIds, seedDemo, type SeedResult } from "./seed";
import { ensureTelemetry } from "../lib/telemetry";
import { demoDbInfoFile, type DemoDbInfo } from "./startSecrets/dbClient";
import { seedProviderSecrets, type ProviderSeedResult } from "./startSecrets/seed";
import { startSecretStandIns, type SecretStandIns } from "./startSecrets/standIns";
import { writeFileSync } from "node:fs";

const env = process.env;
const DEMO_VAULT = "demo-vault";
const LOCAL_TIMER_SCHEDULE = "0 * * * * *";

function portSetting(name: string, fallback: number): number {
  const raw = env[name];
  const port = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`[keyrotor] [start] ${name} must be a port number, got "${raw}"`);
  return port;
}

// When whoever reads our output goes away (a closed pipe), keep running quietly instead of dying
// on EPIPE half-way through a rotation (or, worse, looping on the error while stopping).
let outputOpen = true;
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", () => {
    outputOpen = false;
  });
}
const write = (text: string) => {
  if (outputOpen) process.stdout.write(text);
};
const stamp = () => new Date().toISOString().slice(11, 19);
const say = (line: string) => write(`${line}\n`);
const logLine = (line: string) => write(`${stamp()} ${line}\n`);

interface Running {
  azurite?: AzuriteTables;
  keyVault?: KeyVaultPeer;
  serviceBus?: ServiceBusPeer;
  secrets?: SecretStandIns;
  host?: DevHost;
}

const running: Running = {};
let stopping: Promise<void> | undefined;

/** Stops what runs, the host first (no new work), then the stand-ins. Each stop is bounded. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    const bounded = (what: string, p: Promise<void> | undefined) =>
      p
        ? Promise.race([p, new Promise<void>((r) => setTimeout(r, 5_000).unref())]).catch((err: unknown) => logLine(`[keyrotor] [start] stopping ${what}: ${(err as Error).message}`))
        : Promise.resolve();
    await bounded("host", running.host?.stop());
    // Flushes the last spans and metrics (console exporters print them now, not a minute later).
    await bounded("telemetry", ensureTelemetry().shutdown());
    await Promise.all([bounded("Service Bus peer", running.serviceBus?.stop()), bounded("Key Vault peer", running.keyVault?.stop()), bounded("ARM peer and PostgreSQL", running.secrets?.stop())]);
    await bounded("Azurite", running.azurite?.stop());
  })();
  return stopping;
}

function onSignals(): void {
  // process.on, not once: Ctrl-C reaches every process of the group, and tsx relays it too, so a
  // second SIGINT may arrive while stopping; it must not cut the clean stop short.
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logLine(`${signal}: stopping keyrotor…`);
    void stopAll().then(() => {
      logLine("stopped");
      process.exit(0);
    });
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler); // the terminal went away
  const fatal = (err: unknown) => {
    if (stopping) return;
    if (outputOpen) process.stderr.write(`[keyrotor] [start] fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAll().then(() => process.exit(1));
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);
  watchLaunchers((pid) => {
    if (stopping) return;
    logLine(`the process that launched keyrotor (pid ${pid}) is gone: stopping keyrotor…`);
    void stopAll().then(() => process.exit(1));
  });
}

const tablesGiven = () => Boolean(env.KEYROTOR_TABLES_URL || env.KEYROTOR_TABLES_CONNECTION);
const vaultGiven = () => Boolean(env.KEYROTOR_VAULT_URLS);
const serviceBusGiven = () => Boolean(env.KEYROTOR_SERVICEBUS_NAMESPACE || env.KEYROTOR_SERVICEBUS_CONNECTION);

/**
 * Before anything starts: every fixed port this start will bind must be free. One held by
 * something this run did not start (an Azurite an earlier run left behind, another program) is
 * refused with the port and what to do — never used, never shared.
 */
async function ensurePortsFree(hostPort: number): Promise<void> {
  const wanted: [number, string, string][] = [[hostPort, "the keyrotor host", "set PORT to a free port"]];
  if (!tablesGiven()) wanted.push([portSetting("KEYROTOR_AZURITE_PORT", 10002), "Azurite, the Table Storage stand-in", "set KEYROTOR_AZURITE_PORT to a free port"]);
  if (!vaultGiven()) wanted.push([portSetting("KEYROTOR_KEYVAULT_PEER_PORT", 8443), "the Key Vault peer", "set KEYROTOR_KEYVAULT_PEER_PORT to a free port"]);
  if (!serviceBusGiven()) wanted.push([portSetting("KEYROTOR_SERVICEBUS_PEER_PORT", 5672), "the Service Bus peer", "set KEYROTOR_SERVICEBUS_PEER_PORT to a free port"]);
  for (const [port, what, remedy] of wanted) await ensurePortFree(port, what, remedy);
}

/** Starts each stand-in whose real service is not configured, and points the settings at it. */
async function startStandIns(stateDir: string, hostPort: number, eventGridKey: string): Promise<string[]> {
  const notes: string[] = [];
  if (!tablesGiven()) {
    running.azurite = await startAzuriteTables({
      port: portSetting("KEYROTOR_AZURITE_PORT", 10002),
      location: path.join(stateDir, "azurite"),
      portRemedy: "set KEYROTOR_AZURITE_PORT to a free port",
    });
    env.KEYROTOR_TABLES_CONNECTION = running.azurite.connectionString;
    notes.push(`Table Storage  Azurite ${running.azurite.url} (devstoreaccount1, pid ${running.azurite.pid}, state in ${path.join(stateDir, "azurite")})`);
  } else {
    notes.push(`Table Storage  ${env.KEYROTOR_TABLES_URL ?? "connection string from KEYROTOR_TABLES_CONNECTION"} (given; no Azurite)`);
  }
  if (!vaultGiven()) {
    running.keyVault = await startKeyVaultPeer({
      port: portSetting("KEYROTOR_KEYVAULT_PEER_PORT", 8443),
      vaultName: DEMO_VAULT,
      stateFile: path.join(stateDir, "keyvault-peer.json"),
      // As an Event Grid subscription does, with the host's eventgrid_extension system key.
      eventGridWebhook: `http://127.0.0.1:${hostPort}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${encodeURIComponent(eventGridKey)}`,
    });
    env.KEYROTOR_VAULT_URLS = `${DEMO_VAULT}=${running.keyVault.url}`;
    env.KEYROTOR_KEYVAULT_CA_FILE = running.keyVault.caFile;
    env.KEYROTOR_KEYVAULT_CREDENTIAL = "local-peer";
    notes.push(`Key Vault      peer ${running.keyVault.url} (vault ${DEMO_VAULT}, CA ${running.keyVault.caFile}; Event Grid events → the host)`);
  } else {
    notes.push(`Key Vault      ${env.KEYROTOR_VAULT_URLS} (given; no peer)`);
  }
  if (!serviceBusGiven()) {
    running.serviceBus = await startServiceBusPeer({ port: portSetting("KEYROTOR_SERVICEBUS_PEER_PORT", 5672), autoCreate: true });
    env.KEYROTOR_SERVICEBUS_CONNECTION = running.serviceBus.connectionString;
    notes.push(`Service Bus    peer amqp://127.0.0.1:${running.serviceBus.port} (topic ${env.KEYROTOR_EVENTS_TOPIC ?? "key-rotation-events"})`);
  } else {
    notes.push(`Service Bus    ${env.KEYROTOR_SERVICEBUS_NAMESPACE ?? "connection string from KEYROTOR_SERVICEBUS_CONNECTION"} (given; no peer)`);
  }
  // The provider secrets' demo (a storage account, a Service Bus rule, a Cosmos DB account and a
  // database with two logins) only beside the Key Vault peer: never seeded into a real vault.
  if (running.keyVault && env.KEYROTOR_SEED !== "false" && !env.KEYROTOR_ARM_ENDPOINT) {
    running.secrets = await startSecretStandIns(stateDir, env);
    notes.push(...running.secrets.notes);
  }
  env.KEYROTOR_TIMER_SCHEDULE ||= LOCAL_TIMER_SCHEDULE;
  return notes;
}

/** What the banner says of the provider secrets: each one, where it rotates, and how to watch one. */
function providerLines(p: ProviderSeedResult | undefined): string[] {
  if (!p) return [];
  return [
    `provider secrets ${p.seeded ? "seeded now" : "kept"} (each rotates where it is checked, dual-credential):`,
    ...p.secrets.map((s) => `  ${s.keyId.padEnd(34)} ${s.what}`),
  ];
}

function banner(url: string, cfg: Config, notes: string[], seed: SeedResult | undefined, stateDir: string, providers?: ProviderSeedResult): string {
  const vault = cfg.KEYROTOR_VAULT_URLS[0]!.name;
  const ids = demoKeyIds(vault);
  const operator = encodePrincipal("alice", ["KeyRotation.Operator", "KeyRotation.Auditor"]);
  const seedLine = !seed
    ? "demo seed      skipped (KEYROTOR_SEED=false)"
    : seed.seeded
      ? `demo seed      seeded now: ${seed.marker.keys} keys, ${seed.marker.deks} DEKs, ${seed.marker.policies} policies`
      : `demo seed      kept from ${seed.marker.seededAt} (state in ${stateDir}; delete it to start over)`;
  return [
    "",
    "keyrotor — automated, auditable key rotation (local host)",
    "",
    `HTTP API       ${url}/api  (health: ${url}/api/health, OpenAPI: ${url}/api/openapi.json)`,
    `Event Grid     ${url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${encodeURIComponent(running.host?.eventGridWebhookKey ?? "")}  (code: the eventgrid_extension system key, new each start)`,
    ...notes,
    `policy timer   ${cfg.KEYROTOR_TIMER_SCHEDULE} (NCRONTAB; ran once at start)`,
    seedLine,
    ...providerLines(providers),
    "",
    "What it is doing: the policy timer plans every key each minute and starts what is due — the demo's",
    `signing key ${ids.signing} is overdue, so a rotation runs right away. Every step lands in the`,
    "hash-chained ledger and goes out as a Service Bus event.",
    "",
    "Identity: the API reads the App Service Authentication header x-ms-client-principal (base64 JSON).",
    "Try it (paste into one shell, in this directory; every line runs as printed):",
    ...tryIt(url, operator, ids, stateDir).map((c) => `  ${c}`),
    "",
  ].join("\n");
}

/** The banner's sample commands, each runnable exactly as printed (test/e2e/start/bannerCommands
 * runs them): no <placeholders> (a shell reads `<rotationId>` as a redirection), the rotation id
 * taken from the CLI's --json answer, --url whenever PORT moved the host off the CLI's default,
 * and the evidence written into the state directory rather than into the checkout. */
function tryIt(url: string, operator: string, ids: ReturnType<typeof demoKeyIds>, stateDir: string): string[] {
  const cli = `node bin/keyrotor${url === CLI_DEFAULT_URL ? "" : ` --url ${url}`}`;
  const idOf = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).rotationId'`;
  return [
    `curl -s ${url}/api/plan -H 'x-ms-client-principal: ${operator}' --fail-with-body`,
    `${cli} plan --as alice:Operator,Auditor`,
    `id=$(${cli} rotate ${ids.kek} --reason "demo rotation" --as alice:Operator,Auditor --json | ${idOf})`,
    `${cli} status "$id" --watch --as alice:Auditor`,
    `id=$(${cli} rotate ${ids.secret} --emergency --reason "leaked in a log" --as alice:Operator --json | ${idOf})`,
    `${cli} approve "$id" --as bob:Approver`,
    `${cli} status "$id" --watch --as bob:Auditor`,
    `${cli} ledger verify --as carol:Auditor`,
    `${cli} evidence --from 2026-01-01 --to 2099-01-01 --out ${shellWord(path.join(stateDir, "evidence"))} --as carol:Auditor`,
  ];
}

/** The CLI's --url default (lib/cli/main.ts). */
const CLI_DEFAULT_URL = "http://127.0.0.1:7071";

/** `w` as one shell word: as it is when it holds only safe characters, else single-quoted. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_\-.,:/@=+%]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<void> {
  onSignals();
  const stateDir = path.resolve(env.KEYROTOR_STATE_DIR || ".keyrotor");
  const port = portSetting("PORT", 7071);
  logLine(`starting keyrotor (state in ${stateDir})…`);
  await ensurePortsFree(port);
  // The host's eventgrid_extension system key, chosen now: the Key Vault peer needs the webhook URL
  // (with ?code=) before the host starts.
  const eventGridKey = newSystemKey();
  const notes = await startStandIns(stateDir, port, eventGridKey);
  const cfg = loadConfig();

  const seed = env.KEYROTOR_SEED === "false" ? undefined : await seedDemo(cfg, { log: (l) => logLine(`[seed] ${l}`) });
  const providers = running.secrets ? await seedProviderSecrets(cfg, { postgresPort: running.secrets.postgres.port, stateDir, log: (l) => logLine(`[seed] ${l}`) }) : undefined;
  if (running.secrets && running.keyVault) {
    // Where the demo's database client (npm run demo:db) finds the secret: no credential in here.
    const info: DemoDbInfo = { keyVaultUrl: running.keyVault.url, caFile: running.keyVault.caFile, secret: "orders-db" };
    writeFileSync(demoDbInfoFile(stateDir), JSON.stringify(info, null, 2));
  }
  const app = await composeLocalApp(cfg, stateDir);
  running.host = await startHost({
    entry: functionModules(),
    appHookData: appHookDataFor(app),
    port,
    eventGridWebhookKey: eventGridKey,
    store: new TableHistoryStore(hostTable(cfg, HISTORY_TABLE)),
    log: logLine,
  });
  // Orchestrations a previous run left unfinished carry on (the durable store kept their history).
  await running.host.resume();
  say(banner(running.host.url, cfg, notes, seed, stateDir, providers));
  say(`keyrotor ready on ${running.host.url}`);
  // Like runOnStartup: plan once now, so what is due does not wait for the next minute.
  running.host.fireTimer("policyTimer").catch((err: unknown) => logLine(`[keyrotor] [start] first timer run: ${(err as Error).message}`));
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  // Messages of our own already say where they come from (a taken port names itself).
  if (outputOpen) process.stderr.write(`${message.startsWith("[keyrotor]") ? message : `[keyrotor] [start] failed to start: ${message}`}\n`);
  void stopAll().then(() => process.exit(1));
});
