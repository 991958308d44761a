// `keyrotor ledger verify` and `keyrotor evidence`: through the HTTP API by default, or straight from
// Table Storage with --storage <connection string> (an auditor with read access to the storage
// account needs no running keyrotor and no API role).
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { TableClient } from "@azure/data-tables";
import { SingleBar, Presets } from "cli-progress";
import type { Command } from "commander";
import { loadConfig, type Config } from "../config";
import { evidence as buildEvidence } from "../api/queries";
import type { ApiServices } from "../api/ports";
import { tableLedger, type SealSigner } from "../ledger";
import { writeEvidencePack, type EvidencePack } from "../ledger/evidence";
import { verifyLocally } from "../ledger/seals";
import type { LedgerVerification, VerifyProgress } from "../ports";
import { Inventory } from "../stores/inventory";
import { PolicyStore } from "../stores/policyStore";
import { ApiClient, CliError } from "./client";
import { record } from "./format";
import { verifyThroughApi, type VerifyPageBody } from "./verifyPages";
import { evidenceThroughApi, type EvidencePageBody } from "./evidencePages";

interface Globals {
  url: string;
  as?: string;
  json?: boolean;
}

export interface CliContext {
  out(g: Globals, human: () => string, machine: unknown): void;
  client(cmd: Command): { api: ApiClient; g: Globals };
}

interface StorageOptions {
  storage?: string;
  sealKey?: string;
  sealKid?: string;
}

/** The table settings for a connection string: names from the environment (KEYROTOR_TABLE_*) or defaults. */
function storageConfig(connection: string): Config {
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

function table(cfg: Config, name: string): TableClient {
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

function storageLedger(cfg: Config, opts: StorageOptions) {
  return tableLedger({
    entries: table(cfg, cfg.KEYROTOR_TABLE_LEDGER),
    seals: table(cfg, cfg.KEYROTOR_TABLE_SEALS),
    ...(opts.sealKey ? { signer: sealVerifier(opts.sealKey, opts.sealKid) } : {}),
  });
}

/** Storage failures (unreachable, no such table, refused) are "could not ask", not "no". */
async function fromStorage<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const msg = (err as Error).message ?? String(err);
    if (/needs the seal signer/.test(msg)) throw new CliError("the ledger has signed seals: pass --seal-key <PEM file with the seal public key> to check them", 2);
    throw new CliError(`${what} from storage failed: ${msg.split("\n")[0]}`, 2);
  }
}

function progressBar(json: boolean | undefined): { update(p: VerifyProgress): void; stop(): void } {
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

export function describeVerification(v: LedgerVerification): string {
  const head = v.ok
    ? `ledger verifies: ${v.chains} chains, ${v.entries} entries, ${v.seals} seals`
    : `ledger does NOT verify: ${v.chains} chains, ${v.entries} entries, ${v.seals} seals`;
  const lines = [head];
  if (v.latestSeal) lines.push(`latest seal #${v.latestSeal.sealSeq} at ${v.latestSeal.at} (${v.latestSeal.kid})`);
  for (const b of (v.breaks ?? (v.firstBreak ? [v.firstBreak] : [])).slice(0, 20)) {
    lines.push(`break: ${b.keyId} seq ${b.seq}: ${b.problem}${b.detail ? ` (${b.detail})` : ""}`);
  }
  return lines.join("\n");
}

function instant(name: string, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`--${name} must be an ISO-8601 date or instant (got "${value}")`, 2);
  return new Date(ms).toISOString();
}

/** Evidence from the tables directly: the same pack the API builds. */
async function storageEvidence(cfg: Config, opts: StorageOptions, from: string, to: string, label: string | undefined): Promise<EvidencePack> {
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

export function storageCommands(program: Command, ctx: CliContext): void {
  const storageOption = (c: Command) =>
    c
      .option("--storage <connection>", "read Table Storage directly (a storage connection string) instead of the HTTP API")
      .option("--seal-key <pem>", "with --storage: PEM file holding the seal key's public key (checks seal signatures)")
      .option("--seal-kid <kid>", "with --seal-key: only seals signed under this key id verify");

  const ledger = program.command("ledger").description("the rotation ledger");
  storageOption(
    ledger
      .command("verify")
      .description("verify every hash chain and seal of the ledger (exit 1 when it does not verify)"),
  ).action(async (opts: StorageOptions, cmd: Command) => {
    const { api, g } = ctx.client(cmd);
    let v: LedgerVerification;
    if (opts.storage !== undefined) {
      const cfg = storageConfig(opts.storage);
      const bar = progressBar(g.json);
      try {
        v = await fromStorage("ledger verify", () => storageLedger(cfg, opts).verify({ onProgress: (p) => bar.update(p) }));
      } finally {
        bar.stop();
      }
    } else {
      if (!g.json && process.stderr.isTTY) process.stderr.write("verifying the ledger through the API…\n");
      v = await verifyThroughApi((path) => api.get<VerifyPageBody>(path)); // pages past Azure's 230 s
    }
    ctx.out(g, () => describeVerification(v), v);
    if (!v.ok) throw new CliError(`ledger does not verify${v.firstBreak ? `: ${v.firstBreak.keyId} seq ${v.firstBreak.seq}: ${v.firstBreak.problem}` : ""}`, 1);
  });

  storageOption(
    program
      .command("evidence")
      .description("export compliance evidence for a period: evidence.json, rotations.csv, compliance.csv, summary.md, manifest.json")
      // Required, but checked in the action: commander would demand them of `evidence verify` too.
      .option("--from <date>", "start of the period (ISO-8601, inclusive; required)")
      .option("--to <date>", "end of the period (ISO-8601, exclusive; required)")
      .option("--out <dir>", "directory to write the files to (required)")
      .option("--label <text>", "a name for the period, e.g. 2026-Q1"),
  ).action(async (opts: StorageOptions & { from: string; to: string; out: string; label?: string }, cmd: Command) => {
    const missing = (["from", "to", "out"] as const).filter((k) => (opts as Partial<typeof opts>)[k] === undefined);
    if (missing.length) throw new CliError(`evidence needs ${missing.map((k) => `--${k}`).join(", ")} (to check a pack: evidence verify <dir> --public-key <pem>)`, 2);
    const { api, g } = ctx.client(cmd);
    const from = instant("from", opts.from);
    const to = instant("to", opts.to);
    if (to <= from) throw new CliError("--to must be after --from", 2);
    const pack = opts.storage !== undefined
      ? await fromStorage("evidence", () => storageEvidence(storageConfig(opts.storage!), opts, from, to, opts.label))
      // Pages past Azure's 230 s: the CLI follows the continuations to the signed pack.
      : await evidenceThroughApi((p) => api.get<EvidencePack | EvidencePageBody>(p), { from, to, label: opts.label }, (page) => {
        if (!g.json && process.stderr.isTTY) process.stderr.write(`evidence: ${page.progress?.phase ?? "…"} (${page.progress?.keysDone ?? 0} keys, ${page.progress?.chainsVerified ?? 0} chains verified)…\n`);
      });
    let written: { files: string[]; manifest: Record<string, string> };
    try {
      written = await writeEvidencePack(opts.out, pack);
    } catch (err) {
      throw new CliError(`cannot write evidence to ${opts.out}: ${(err as Error).message}`, 2);
    }
    const summary = { period: pack.period, summary: pack.summary, files: written.files, sha256: written.manifest };
    ctx.out(g, () => [`evidence for ${from} .. ${to} written to ${opts.out}`, ...written.files.map((f) => `  ${f}`), record({ summary: pack.summary })].join("\n"), summary);
  });
}
