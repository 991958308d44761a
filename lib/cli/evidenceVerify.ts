// `keyrotor evidence verify <dir> --public-key <pem>`: checks an evidence pack offline, with the
// seal key's PUBLIC key only (an auditor never needs the private key, nor a running keyrotor):
// every file's SHA-256 against manifest.json, and manifest.json against its seal-key signature.
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { verifyEvidenceDir } from "../ledger/evidenceSeal";
import { CliError } from "./client";
import type { CliContext } from "./storage";

function publicKeyFrom(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`--public-key ${file}: cannot read it (${(err as Error).message})`, 2);
  }
  // The auditor's input is the public key: a private key here means it was handed out by mistake.
  if (/PRIVATE KEY-----/.test(pem)) throw new CliError(`--public-key ${file} holds a PRIVATE key: give auditors the seal's public key (ledger-seal-key.pub.pem), never the private one`, 2);
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new CliError(`--public-key ${file}: not a PEM public key (${(err as Error).message})`, 2);
  }
}

/** Adds `verify` under the existing `evidence` command. */
export function evidenceVerifyCommand(program: Command, ctx: Pick<CliContext, "out" | "client">): void {
  const evidence = program.commands.find((c) => c.name() === "evidence");
  if (!evidence) throw new Error("[keyrotor] [cli] evidence verify needs the evidence command registered first");
  evidence
    .command("verify")
    .description("check an evidence pack offline: each file's SHA-256 and the manifest's seal-key signature (exit 1 when it does not verify)")
    .argument("<dir>", "the pack's directory (holding manifest.json)")
    .requiredOption("--public-key <pem>", "PEM file with the seal key's PUBLIC key (the local host writes .keyrotor/ledger-seal-key.pub.pem)")
    .action(async (dir: string, opts: { publicKey: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ json?: boolean; url: string }>();
      const key = publicKeyFrom(opts.publicKey);
      const v = await verifyEvidenceDir(dir, key);
      ctx.out(g, () => (v.ok
        ? `evidence pack ${dir} verifies: ${v.files} file(s) match the manifest, whose signature verifies under the seal public key (kid ${v.kid ?? "?"})`
        : [`evidence pack ${dir} does NOT verify:`, ...v.problems.map((p) => `  ${p}`)].join("\n")), { dir, ...v });
      if (!v.ok) throw new CliError(`evidence pack ${dir} does not verify: ${v.problems[0] ?? ""}`, 1);
    });
}
