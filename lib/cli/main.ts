// `keyrotor` — the operator and auditor CLI. Talks to the HTTP API (--url), except `ledger verify`
// and `evidence`, which can also read Table Storage directly (--storage).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { apiPath, ROUTES } from "../api/routes";
import { ROTATION_MODES, type RotationMode } from "../domain/keys";
import { ApiClient, CliError, parseIdentity } from "./client";
import { dueText, etaText, rateText, record, shortTime, table, warningText, type PlanDue, type PlanWarning } from "./format";
import { exitFlushed } from "./exit";
import { storageCommands } from "./storage";
import { evidenceVerifyCommand } from "./evidenceVerify";
import { azureCredential, CREDENTIAL_KINDS, credentialKind, tokenSource, type CredentialFactory } from "./token";

const DEFAULT_URL = "http://127.0.0.1:7071";
const TERMINAL_STATUS = new Set(["Completed", "Failed", "Terminated", "approvalExpired"]);
const TERMINAL_PHASE = new Set(["completed", "failed", "aborted"]);
const POLL_MS = 1000;

interface Globals {
  url: string;
  as?: string;
  token?: string;
  scope?: string;
  credential?: string;
  json?: boolean;
}

/** `rotate`'s mode: --mode (normal or emergency), --emergency its short form; both must agree. */
function rotateMode(opts: { mode?: string; emergency?: boolean }): RotationMode {
  const mode = opts.mode ?? (opts.emergency ? "emergency" : "normal");
  if (!(ROTATION_MODES as readonly string[]).includes(mode)) throw new CliError(`--mode must be ${ROTATION_MODES.join(" or ")}, got "${mode}"`, 2);
  if (opts.emergency && mode !== "emergency") throw new CliError(`--emergency contradicts --mode ${mode}`, 2);
  return mode as RotationMode;
}

interface RotateOptions { reason: string; mode?: string; emergency?: boolean; revokeOld?: boolean; migrateFlat?: boolean; branchKeys?: boolean; branchTenants?: string; branchIds?: string }

/** The body's branchKeys from --branch-keys / --branch-tenants / --branch-ids (one of them): a
 * branch-key rotation makes no new KEK version, so it goes with neither --emergency nor --migrate-flat. */
function branchKeysOf(opts: RotateOptions, mode: string): true | { tenants: string[] } | { branchIds: string[] } | undefined {
  const list = (v: string) => v.split(",").map((x) => x.trim()).filter((x) => x !== "");
  const asked = [opts.branchKeys ? "--branch-keys" : "", opts.branchTenants !== undefined ? "--branch-tenants" : "", opts.branchIds !== undefined ? "--branch-ids" : ""].filter((x) => x !== "");
  if (asked.length === 0) return undefined;
  if (asked.length > 1) throw new CliError(`${asked.join(" and ")}: give one of them`, 2);
  if (mode === "emergency" || opts.migrateFlat) throw new CliError(`${asked[0]} asks for a branch-key rotation, which makes no new KEK version: not with --emergency or --migrate-flat`, 2);
  if (opts.branchTenants !== undefined) return { tenants: list(opts.branchTenants) };
  if (opts.branchIds !== undefined) return { branchIds: list(opts.branchIds) };
  return true;
}

function out(g: Globals, human: () => string, machine: unknown): void {
  process.stdout.write(g.json ? `${JSON.stringify(machine, null, 2)}\n` : `${human()}\n`);
}

/** The API client of a command: a --token (or KEYROTOR_TOKEN) as given; else with a --scope (or
 * KEYROTOR_SCOPE) a token acquired for that scope by the chosen credential; else none (local). */
function clientWith(credentials: CredentialFactory): (cmd: Command) => { api: ApiClient; g: Globals } {
  return (cmd) => {
    const g = cmd.optsWithGlobals<Globals>();
    const token = g.token ?? process.env.KEYROTOR_TOKEN;
    const scope = g.scope ?? process.env.KEYROTOR_SCOPE;
    const kind = credentialKind(g.credential ?? (process.env.KEYROTOR_CREDENTIAL || undefined));
    const bearer = token || (scope ? tokenSource(credentials, kind, scope) : undefined);
    return { api: new ApiClient(g.url, parseIdentity(g.as ?? process.env.KEYROTOR_AS), bearer), g };
  };
}

interface PlanItem extends PlanDue {
  keyId: string;
  kind: string;
  tenant: string;
  reason: string;
  expiresAt?: string;
  warnings?: PlanWarning[];
  /** A KEK's scheduled branch-key rotation (policy branchKeys.every). */
  branchKeys?: PlanDue & { reason: string; dueCount: number };
}
interface RotationView {
  rotationId: string;
  keyId?: string;
  trigger?: string;
  phase?: string;
  runtimeStatus?: string;
  progress?: { rewrapped: number; total: number; perSec?: number; throttled?: number; eta?: string };
  createdAt?: string;
  lastUpdatedAt?: string;
  error?: unknown;
  /** Emergencies: which version was revoked, or that none was and why. */
  revocation?: { revoked: boolean; version?: string; at?: string; because: string };
}

/** One line: "<version> revoked at <time> (why)" or "none (why)". */
function revocationLine(r: NonNullable<RotationView["revocation"]>): string {
  return r.revoked ? `${r.version ?? "?"} revoked${r.at ? ` at ${shortTime(r.at) ?? r.at}` : ""} (${r.because})` : `none${r.version ? ` (${r.version} still enabled)` : ""}: ${r.because}`;
}

interface RotationSummaryView {
  rotationId: string;
  keyId: string;
  trigger?: string;
  requestedBy?: string;
  phase?: string;
  status?: string;
  lastUpdatedAt?: string;
}

// The durable runtime status decides: the phase reads "completed" a moment before the orchestration
// has sealed the ledger and returned. Without an instance (a pending emergency) only these count.
const isTerminal = (v: RotationView) => TERMINAL_STATUS.has(v.runtimeStatus ?? "") || (!v.runtimeStatus && TERMINAL_PHASE.has(v.phase ?? ""));

/** Follows a rotation until it ends; while DEKs are re-wrapped, a progress bar with rate and ETA. */
async function watch(api: ApiClient, g: Globals, rotationId: string): Promise<RotationView> {
  const tty = !g.json && process.stderr.isTTY;
  const bar = tty
    ? new SingleBar({ format: "rewrap |{bar}| {value}/{total} DEKs  {rate}  {eta}  {phase}", hideCursor: true, stream: process.stderr }, Presets.shades_classic)
    : undefined;
  let started = false;
  let lastPhase = "";
  for (;;) {
    const v = await api.get<RotationView>(apiPath(ROUTES.getRotation, { rotationId }));
    const p = v.progress;
    if (bar && p && p.total > 0) {
      // Rate and ETA as the API measured them (cli-progress's own ETA reads NULL/INF between polls).
      const shown = { rate: rateText(p.perSec), eta: etaText(p.eta, Date.now()), phase: v.phase ?? "" };
      if (!started) bar.start(p.total, p.rewrapped, shown);
      started = true;
      bar.setTotal(p.total);
      bar.update(p.rewrapped, shown);
    } else if (!g.json && !started && v.phase && v.phase !== lastPhase) {
      process.stderr.write(`${rotationId}: ${v.phase} (${v.runtimeStatus ?? ""})\n`);
    }
    lastPhase = v.phase ?? lastPhase;
    if (isTerminal(v)) {
      if (started && p) bar?.update(p.rewrapped);
      bar?.stop();
      return v;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** keyrotor's version: package.json's, found from here in the source (lib/cli) or built (dist/lib/cli). */
export function cliVersion(): string {
  for (let dir = __dirname, i = 0; i < 4; dir = path.dirname(dir), i++) {
    const file = path.join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
    if (pkg.name === "keyrotor" && typeof pkg.version === "string") return pkg.version;
  }
  return "unknown";
}

/** Refuses (exit 1) a keyId that is not in the inventory, saying so. */
async function mustBeManaged(api: ApiClient, keyId: string): Promise<void> {
  const res = await api.get<{ keys: { keyId: string }[] }>(apiPath(ROUTES.getKeys, {}));
  if (!res.keys.some((k) => k.keyId === keyId)) throw new CliError(`${keyId} is not a managed key (\`keyrotor keys\` lists them)`, 1);
}

export interface CliDeps {
  /** Where credentials come from (tests inject a fake TokenCredential). */
  credential?: CredentialFactory;
}

export function buildProgram(deps: CliDeps = {}): Command {
  const client = clientWith(deps.credential ?? azureCredential);
  const program = new Command("keyrotor")
    .description("Operate and audit keyrotor: plans, rotations, approvals, ledger verification and evidence.")
    .option("--url <url>", "keyrotor HTTP API base URL", process.env.KEYROTOR_URL ?? DEFAULT_URL)
    .option("--as <name:roles>", "identity for the local host, e.g. alice:Operator,Auditor (or KEYROTOR_AS)")
    .option("--token <bearer>", "bearer token for a deployed app (App Service Authentication), or KEYROTOR_TOKEN")
    .option("--scope <scope>", "the deployed app's API scope, e.g. api://<app-client-id>/.default: acquire the token (or KEYROTOR_SCOPE)")
    .option("--credential <kind>", `how to acquire it: ${CREDENTIAL_KINDS.join(" | ")} (default: default, or KEYROTOR_CREDENTIAL)`)
    .option("--json", "machine-readable output")
    .version(cliVersion(), "-V, --version", "print keyrotor's version")
    // Every subcommand's --help lists these global options too (they go before or after the verb).
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command("plan")
    .description("upcoming rotations and expiry warnings (dry run)")
    .option("--horizon <duration>", "ISO-8601 duration", "P90D")
    .action(async (opts: { horizon: string }, cmd: Command) => {
      const { api, g } = client(cmd);
      const res = await api.get<{ items: PlanItem[] }>(`/api/plan?horizon=${encodeURIComponent(opts.horizon)}`);
      out(g, () => table(["key", "kind", "tenant", "due", "reason", "expiry", "warnings"], res.items.flatMap((i) => [[
        i.keyId, i.kind, i.tenant, dueText(i), i.reason, shortTime(i.expiresAt), (i.warnings ?? []).map(warningText).join("\n"),
      ], ...(i.branchKeys ? [[
        // A KEK's scheduled branch-key rotation: a row of its own under the KEK's.
        `${i.keyId} branch keys (${i.branchKeys.dueCount})`, i.kind, i.tenant, dueText(i.branchKeys), i.branchKeys.reason, undefined, undefined,
      ]] : [])])), res);
    });

  program
    .command("keys")
    .description("managed keys: policy, primary version, next due, expiry")
    .action(async (_o: unknown, cmd: Command) => {
      const { api, g } = client(cmd);
      const res = await api.get<{ keys: { keyId: string; kind: string; tenant: string; policyId?: string; primaryVersion?: string; nextDue?: string; expiresAt?: string }[] }>("/api/keys");
      out(g, () => table(["key", "kind", "tenant", "policy", "primary", "next due", "expiry"], res.keys.map((k) => [
        k.keyId, k.kind, k.tenant, k.policyId, k.primaryVersion?.slice(0, 12), shortTime(k.nextDue), shortTime(k.expiresAt),
      ])), res);
    });

  program
    .command("register <keyId>")
    .description("register a key or secret of a managed vault in the inventory with its policy (Admin); versions are read from the vault")
    .requiredOption("--policy <policyId>", "the policy to attach (one of the tenant's own, covering the key's kind)")
    .requiredOption("--tenant <tenant>", "the tenant the key belongs to")
    .action(async (keyId: string, opts: { policy: string; tenant: string }, cmd: Command) => {
      const { api, g } = client(cmd);
      const res = await api.request<{ key: { keyId: string; policyId?: string; primaryVersion?: string; versions: unknown[] }; keyTypeChecked?: boolean }>(
        "PUT", apiPath(ROUTES.putKey, { keyId }), { policyId: opts.policy, tenant: opts.tenant },
      );
      const k = res.body.key;
      const how = res.status === 201 ? "registered" : "already registered";
      out(g, () => `${how}: ${k.keyId} (policy ${k.policyId ?? "-"}, primary ${k.primaryVersion ?? "-"}, ${k.versions.length} versions)${res.body.keyTypeChecked === false ? "; the vault could not tell whether it is RSA" : ""}`, res.body);
    });

  program
    .command("rotate <keyId>")
    .description("rotate now (Operator); --emergency (--mode emergency) needs a second person's approval")
    .requiredOption("--reason <text>", "why, at least 10 characters (recorded in the ledger)")
    .option("--mode <mode>", `${ROTATION_MODES.join(" or ")} (default normal)`)
    .option("--emergency", "the same as --mode emergency (two-person approval)")
    .option("--revoke-old", "with --emergency only: disable the compromised version once nothing references it")
    .option("--migrate-flat", "a KEK, normal mode only: move its format-1 DEKs under branch keys instead of re-wrapping them flat")
    .option("--branch-keys", "a KEK with branch keys: a branch-key rotation instead (no new KEK version) of every branch key")
    .option("--branch-tenants <tenants>", "the same, of the branch keys these tenants (comma-separated) are assigned to")
    .option("--branch-ids <ids>", "the same, of these branch keys (comma-separated ids, e.g. s256-00017,d-acme)")
    .action(async (keyId: string, opts: RotateOptions, cmd: Command) => {
      const mode = rotateMode(opts);
      // Refused before sending, as the API refuses it: revoking needs a second person (emergency).
      if (opts.revokeOld && mode !== "emergency") throw new CliError("--revoke-old needs --emergency (revoking needs a second person's approval); a normal rotation retires the old version after its overlap", 2);
      if (opts.migrateFlat && mode === "emergency") throw new CliError("--migrate-flat is for a normal rotation: an emergency replaces the branch keys and re-wraps every DEK anyway", 2);
      const branchKeys = branchKeysOf(opts, mode);
      const { api, g } = client(cmd);
      const body = {
        keyId, reason: opts.reason, mode, ...(opts.revokeOld ? { revokeOld: true } : {}), ...(opts.migrateFlat ? { migrateFlat: true } : {}),
        ...(branchKeys !== undefined ? { branchKeys } : {}),
      };
      const res = await api.post<{ rotationId: string; status: string }>("/api/rotations", body);
      out(g, () => `${res.body.status === "pendingApproval" ? "awaiting approval" : "started"}: ${res.body.rotationId}`, res.body);
    });

  program
    .command("approve <rotationId>")
    .description("approve an emergency rotation (Approver; not the requester)")
    .option("--accept-data-loss", "revoke even if references remain (emergency with --revoke-old only; recorded in the ledger)")
    .option("--new-dek-versions", "a KEK with branch keys: every tenant also gets a new DEK version, so consumers re-encrypt their data (recorded in the ledger)")
    .action(async (rotationId: string, opts: { acceptDataLoss?: boolean; newDekVersions?: boolean }, cmd: Command) => {
      const { api, g } = client(cmd);
      const body = { ...(opts.acceptDataLoss ? { acceptDataLoss: true } : {}), ...(opts.newDekVersions ? { newDekVersions: true } : {}) };
      const res = await api.post<{ rotationId: string; status: string }>(apiPath(ROUTES.approveRotation, { rotationId }), body);
      out(g, () => `approved: ${res.body.rotationId} (${res.body.status})`, res.body);
    });

  program
    .command("rollback <rotationId>")
    .description("re-promote the version a rotation replaced, within its policy's rollback window (Operator)")
    .requiredOption("--reason <text>", "why, at least 10 characters (recorded in the ledger)")
    .action(async (rotationId: string, opts: { reason: string }, cmd: Command) => {
      const { api, g } = client(cmd);
      const res = await api.post<{ rotationId: string; status: string; versionAfter?: string }>(apiPath(ROUTES.rollbackRotation, { rotationId }), { reason: opts.reason });
      out(g, () => `rolling back: ${res.body.rotationId}${res.body.versionAfter ? ` (re-promoting ${res.body.versionAfter})` : ""}`, res.body);
    });

  program
    .command("lock")
    .description("key locks (Admin)")
    .command("break <keyId>")
    .description("clear a dead lock (its orchestration ended, or its lease expired and it no longer runs); audited as LockBroken; a running holder's lock is refused unless --terminate-owner")
    .requiredOption("--reason <text>", "why, at least 10 characters (recorded in the ledger)")
    .option("--terminate-owner", "the holder is still running: terminate it and the rewrap legs it started, then clear the lock")
    .action(async (keyId: string, opts: { reason: string; terminateOwner?: boolean }, cmd: Command) => {
      const { api, g } = client(cmd);
      const res = await api.post<{ previousOwner: string; because: string; terminated?: string[]; confirmed: boolean }>(apiPath(ROUTES.breakLock, { keyId }), { reason: opts.reason, ...(opts.terminateOwner ? { terminateOwner: true } : {}) });
      const stopped = res.body.terminated?.length ? `; terminated ${res.body.terminated.join(", ")}` : "";
      out(g, () => `lock of ${keyId} broken (${res.body.because}; held by ${res.body.previousOwner}${stopped})${res.body.confirmed ? "" : ", not yet confirmed"}`, res.body);
    });

  program
    .command("status [rotationId]")
    .description("a rotation's phase and progress, or recent rotations")
    .option("--watch", "follow a rotation until it ends, with a progress bar")
    .option("--key <keyId>", "only rotations of this key")
    .action(async (rotationId: string | undefined, opts: { watch?: boolean; key?: string }, cmd: Command) => {
      const { api, g } = client(cmd);
      if (!rotationId) {
        const res = await api.get<{ rotations: RotationSummaryView[] }>(`/api/rotations${opts.key ? `?keyId=${encodeURIComponent(opts.key)}` : ""}`);
        // No history for a key the inventory does not know is a mistyped key, not "no rotations yet".
        if (opts.key && res.rotations.length === 0) await mustBeManaged(api, opts.key);
        out(g, () => table(["rotation", "trigger", "by", "phase", "status", "updated"], res.rotations.map((r) => [r.rotationId, r.trigger, r.requestedBy, r.phase, r.status, shortTime(r.lastUpdatedAt)])), res);
        return;
      }
      const v = opts.watch ? await watch(api, g, rotationId) : await api.get<RotationView>(apiPath(ROUTES.getRotation, { rotationId }));
      out(g, () => record({ ...v, progress: v.progress ? `${v.progress.rewrapped}/${v.progress.total}` : undefined, revocation: undefined, revoked: v.revocation ? revocationLine(v.revocation) : undefined }), v);
      if (opts.watch && !["completed"].includes(v.phase ?? "")) throw new CliError(`rotation ${rotationId} ended ${v.phase ?? ""} (${v.runtimeStatus ?? ""})${v.error ? `: ${JSON.stringify(v.error)}` : ""}`, 1);
    });

  storageCommands(program, { out, client });
  evidenceVerifyCommand(program, { out, client });
  return program;
}

export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is bad usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`keyrotor: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`keyrotor: ${(err as Error).message}\n`);
    return 2;
  }
}


/** The process entry (bin/keyrotor): runs the CLI and exits with its code only once stdout and
 * stderr are drained, so `keyrotor ... --json | jq` receives the whole answer whatever its size. */
export async function run(argv: string[]): Promise<never> {
  let code: number;
  try {
    code = await main(argv);
  } catch (err) {
    process.stderr.write(`keyrotor: ${(err as Error).message}\n`);
    code = 2;
  }
  return exitFlushed(code);
}
