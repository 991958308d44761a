// The /api/health components beyond tables and notifications: each managed Key Vault's reachability
// and the ledger's last complete verification (the hourly audit's stored result). A failing one
// degrades health (200 with status "degraded"), never fails the request: health is what an operator
// reads when something is wrong.
import { InvalidRequestError } from "../domain/errors";
import type { AuditRecord } from "../ledger/verifyCheckpoint";
import type { ComponentHealth, VaultReader } from "./ports";

export type Component = ComponentHealth & Record<string, unknown>;

/** A key name no one manages: listing its versions is one GET that proves the vault answers and
 * accepts our token (404 KeyNotFound), returns no key material, and needs only the list permission
 * keyrotor already has. */
export const PROBE_KEY_NAME = "keyrotor-health-probe";
export const VAULT_PROBE_TIMEOUT_MS = 5_000;
/** The audit runs hourly; a ledger not completely verified for this long is worth a look. */
export const VERIFICATION_STALE_MS = 3 * 86_400_000;

class ProbeTimeout extends Error {}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function vaultComponent(vault: VaultReader, name: string, timeoutMs = VAULT_PROBE_TIMEOUT_MS): Promise<Component> {
  const started = performance.now();
  const latencyMs = () => Math.round(performance.now() - started);
  try {
    await within(vault.listKeyVersions(name, PROBE_KEY_NAME), timeoutMs);
    return { status: "ok", latencyMs: latencyMs() };
  } catch (err) {
    // The vault answered "no such key": it is reachable and we are allowed in.
    if (err instanceof InvalidRequestError && err.status === 404) return { status: "ok", latencyMs: latencyMs() };
    return { status: "degraded", latencyMs: latencyMs(), detail: `[keyrotor] [health] key vault ${name}: ${(err as Error).message}`.slice(0, 300) };
  }
}

/** /api/health needs no role, so its callers must not be able to spend the vaults' request budget
 * (which the rewrap shares): each vault's probe result is reused for this long, and callers arriving
 * while a probe is out wait for that probe instead of sending another. */
export const VAULT_PROBE_REUSE_MS = 30_000;
type RecentProbes = Map<string, { at: number; result: Promise<Component> }>;
const recentProbes = new WeakMap<VaultReader, RecentProbes>();

/** vaultComponent, at most once per vault per VAULT_PROBE_REUSE_MS for one vault client. */
export function reusedVaultComponent(vault: VaultReader, name: string, nowMs: number, timeoutMs = VAULT_PROBE_TIMEOUT_MS): Promise<Component> {
  let byName = recentProbes.get(vault);
  if (!byName) recentProbes.set(vault, (byName = new Map() as RecentProbes));
  const recent = byName.get(name);
  if (recent && nowMs - recent.at < VAULT_PROBE_REUSE_MS && nowMs >= recent.at) return recent.result;
  const result = vaultComponent(vault, name, timeoutMs);
  byName.set(name, { at: nowMs, result });
  return result;
}

export async function ledgerVerificationComponent(read: () => Promise<AuditRecord>, now: Date): Promise<Component> {
  let record: AuditRecord;
  try {
    record = await read();
  } catch (err) {
    return { status: "degraded", detail: `[keyrotor] [health] ledger audit record: ${(err as Error).message}`.slice(0, 300) };
  }
  const { last, sweep } = record;
  const progress = sweep ? { sweep: { startedAt: sweep.startedAt, pages: sweep.pages, chains: sweep.chains, entries: sweep.entries, breaksSoFar: sweep.breaks.length } } : {};
  if (!last) return { status: sweep && sweep.breaks.length > 0 ? "degraded" : "ok", detail: "no complete verification yet (the hourly audit records one)", ...progress };
  const view = {
    lastVerifiedAt: last.at, ok: last.ok, chains: last.chains, entries: last.entries, seals: last.seals,
    ...(last.firstBreak ? { firstBreak: last.firstBreak } : {}), ...(last.sealSeq !== undefined ? { sealSeq: last.sealSeq } : {}), ...progress,
  };
  if (!last.ok) return { status: "degraded", detail: "the ledger did not verify at the last audit: see docs/ledger.md", ...view };
  if (sweep && sweep.breaks.length > 0) return { status: "degraded", detail: "the audit in progress found a break", ...view };
  if (now.getTime() - Date.parse(last.at) > VERIFICATION_STALE_MS) return { status: "degraded", detail: `no complete verification since ${last.at}`, ...view };
  return { status: "ok", ...view };
}
