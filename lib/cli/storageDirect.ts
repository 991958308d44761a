// The --storage path of `keyrotor ledger verify` and `keyrotor evidence`: Table Storage read directly
// (an auditor with read access to the storage account needs no running keyrotor and no API role).
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { TableClient } from "@azure/data-tables";
import { SingleBar, Presets } from "cli-progress";
import { loadConfig, type Config } from "../config";
import { evidence as buildEvidence } from "../api/queries";
import type { ApiServices } from "../api/ports";
import { tableLedger, type SealSigner } from "../ledger";
import type { EvidencePack } from "../ledger/evidence";
import { verifyLocally } from "../ledger/seals";
import type { VerifyProgress } from "../ports";
import { Inventory } from "../stores/inventory";
import { PolicyStore } from "../stores/policyStore";
import { CliError } from "./client";

export interface StorageOptions {
  storage?: string;
  sealKey?: string;
  sealKid?: string;
}

/** The table settings for a connection string: names from the environment (KEYROTOR_TABLE_*) or defaults. */
export function storageConfig(connection: string): Config {
  if (!connection.trim()) throw new CliError("--storage needs a storage connection string", 2);
  try {
    return loadConfig({
      ...process.env,
      KEYROTOR_TABLES_CONNECTION: connection,
      KEYROTOR_TABLES_URL: undefined,
      // Not used here, but the settings must validate as a whole.
      KEYROTOR_VAULT_URLS: process.env.KEYROTOR_VAULT_URLS || "https://unused.vault.azure.net",
      KEYROTOR_SERVICEBUS_CONNECTION: process.env.KEYROTOR_SERVICEBUS_CONNECTION || "unused",
    });
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export function table(cfg: Config, name: string): TableClient {
  const conn = cfg.KEYROTOR_TABLES_CONNECTION!;
  try {
    return TableClient.fromConnectionString(conn, name, { allowInsecureConnection: /UseDevelopmentStorage=true|http:\/\//i.test(conn) });
  } catch (err) {
    throw new CliError(`--storage is not a usable connection string: ${(err as Error).message}`, 2);
  }
}

/** A verify-only SealSigner over a public key from a PEM file (a private key PEM works too). */
export function sealVerifier(file: string, kid: string | undefined): SealSigner {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`--seal-key ${file}: not a readable PEM key (${(err as Error).message})`, 2);
  }
  return {
    kid: kid ?? "verify-only",
    alg: "ES256",
    sign: () => Promise.reject(new Error("[keyrotor] [cli] a verify-only seal key cannot sign")),
    verify: async (digest, signature, sealKid, alg) => (kid === undefined || sealKid === kid) && verifyLocally(key, alg, digest, signature),
  };
}

export function storageLedger(cfg: Config, opts: StorageOptions) {
  return tableLedger({
    entries: table(cfg, cfg.KEYROTOR_TABLE_LEDGER),
    seals: table(cfg, cfg.KEYROTOR_TABLE_SEALS),
    ...(opts.sealKey ? { signer: sealVerifier(opts.sealKey, opts.sealKid) } : {}),
  });
}

/** Storage failures (unreachable, no such table, refused) are "could not ask", not "no". */
export async function fromStorage<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const msg = (err as Error).message ?? String(err);
    if (/needs the seal signer/.test(msg)) throw new CliError("the ledger has signed seals: pass --seal-key <PEM file with the seal public key> to check them", 2);
    throw new CliError(`${what} from storage failed: ${msg.split("\n")[0]}`, 2);
  }
}

export function progressBar(json: boolean | undefined): { update(p: VerifyProgress): void; stop(): void } {
  if (json || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar(
    { format: "verify |{bar}| {value}/{total} entries  {chains} chains  {seals} seals  {rate}/s  eta {eta_formatted}", hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  const started = Date.now();
  let running = false;
  return {
    update(p) {
      const total = Math.max(p.expectedEntries ?? 0, p.entries, 1);
      const rate = Math.round(p.entries / Math.max(0.001, (Date.now() - started) / 1000));
      if (!running) {
        bar.start(total, p.entries, { chains: p.chains, seals: p.seals, rate });
        running = true;
      }
      bar.setTotal(total);
      bar.update(p.entries, { chains: p.chains, seals: p.seals, rate });
    },
    stop() {
      if (running) bar.stop();
    },
  };
}

/** Evidence from the tables directly: the same pack the API builds. */
export async function storageEvidence(cfg: Config, opts: StorageOptions, from: string, to: string, label: string | undefined): Promise<EvidencePack> {
  const policies = new PolicyStore(table(cfg, cfg.KEYROTOR_TABLE_POLICIES));
  const inventory = new Inventory(table(cfg, cfg.KEYROTOR_TABLE_INVENTORY), policies);
  const services = {
    clock: { now: () => new Date() },
    inventory,
    policies,
    ledger: storageLedger(cfg, opts),
    settings: { ledgerRetention: cfg.KEYROTOR_LEDGER_RETENTION },
  } as unknown as ApiServices;
  return buildEvidence(services, { from, to, ...(label ? { label } : {}) });
}
