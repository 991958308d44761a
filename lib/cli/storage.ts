// `keyrotor ledger verify` and `keyrotor evidence`: through the HTTP API by default, or straight from
// Table Storage with --storage <connection string> (an auditor with read access to the storage
// account needs no running keyrotor and no API role): storageDirect.ts.
import type { Command } from "commander";
import type { EvidencePack } from "../ledger/evidence";
import type { LedgerVerification } from "../ports";
import { ApiClient, CliError } from "./client";
import { record } from "./format";
import { verifyThroughApi, type VerifyPageBody } from "./verifyPages";
import { evidenceThroughApi, type EvidencePageBody } from "./evidencePages";
import { createRequire } from "node:module";
import type { StorageOptions } from "./storageDirect";

type Direct = typeof import("./storageDirect");
type Format = typeof import("../ledger/evidenceFormat");

/** Loads a module when a command needs it, so the CLI starts without the Table SDK, the stores and
 * the ledger (bench/cli-start.ts: about a third of the CPU of `--version`). Through require where
 * there is one (the compiled CLI; bin/keyrotor running the source through tsx's require hook, which
 * a dynamic import() of a .ts module bypasses: the README walkthrough test caught that), else
 * through import() (the tests' ESM runner). */
async function load<T>(cjsPath: string, esmPath: string): Promise<T> {
  try {
    return createRequire(__filename)(cjsPath) as T;
  } catch {
    return (await import(esmPath)) as T;
  }
}
const loadDirect = () => load<Direct>("./storageDirect", "./storageDirect.js");
const loadFormat = () => load<Format>("../ledger/evidenceFormat", "../ledger/evidenceFormat.js");

interface Globals {
  url: string;
  as?: string;
  json?: boolean;
}

export interface CliContext {
  out(g: Globals, human: () => string, machine: unknown): void;
  client(cmd: Command): { api: ApiClient; g: Globals };
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
      const direct = await loadDirect();
      const cfg = direct.storageConfig(opts.storage);
      const bar = direct.progressBar(g.json);
      try {
        v = await direct.fromStorage("ledger verify", () => direct.storageLedger(cfg, opts).verify({ onProgress: (p) => bar.update(p) }));
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
    const direct = opts.storage !== undefined ? await loadDirect() : undefined;
    const pack = direct
      ? await direct.fromStorage("evidence", () => direct.storageEvidence(direct.storageConfig(opts.storage!), opts, from, to, opts.label))
      // Pages past Azure's 230 s: the CLI follows the continuations to the signed pack.
      : await evidenceThroughApi((p) => api.get<EvidencePack | EvidencePageBody>(p), { from, to, label: opts.label }, (page) => {
        if (!g.json && process.stderr.isTTY) process.stderr.write(`evidence: ${page.progress?.phase ?? "…"} (${page.progress?.keysDone ?? 0} keys, ${page.progress?.chainsVerified ?? 0} chains verified)…\n`);
      });
    let written: { files: string[]; manifest: Record<string, string> };
    try {
      written = await (await loadFormat()).writeEvidencePack(opts.out, pack);
    } catch (err) {
      throw new CliError(`cannot write evidence to ${opts.out}: ${(err as Error).message}`, 2);
    }
    const summary = { period: pack.period, summary: pack.summary, files: written.files, sha256: written.manifest };
    ctx.out(g, () => [`evidence for ${from} .. ${to} written to ${opts.out}`, ...written.files.map((f) => `  ${f}`), record({ summary: pack.summary })].join("\n"), summary);
  });
}
