// What GET /api/rotations/{rotationId} shows, from the durable status of the rotation's instance.
// A failed rotation ends as runtime status Completed with output.outcome "failed" (see README.md:
// it handled its failure — Failed ledger entry, alert, lock released); this view reports it as
// phase "failed" with the error, so callers need not know that detail.
import { ROTATION_PHASES, ROTATION_TRIGGERS, type RotationPhase, type RotationTrigger } from "../domain/keys";
import type { RotationOutput } from "./workflows";

/** The durable status as durable-functions' DurableClient.getStatus and the dev host return it. */
export interface DurableInstanceStatus {
  instanceId?: string;
  runtimeStatus?: string;
  input?: unknown;
  output?: unknown;
  customStatus?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}

export interface RotationProgressView {
  rewrapped: number;
  /** DEKs that referenced older versions when the rewrap began (at least `rewrapped`). */
  total: number;
  /** Average since the rotation started. */
  perSec: number;
  /** Key Vault throttling (429) answers met so far. */
  throttled: number;
  /** ISO instant; only while running and moving. */
  eta?: string;
}

export interface RotationStatusView {
  rotationId: string;
  keyId?: string;
  trigger?: RotationTrigger;
  phase: RotationPhase;
  /** The durable runtime status (Running, Completed, Failed, Terminated, ...). */
  runtimeStatus: string;
  /** How a finished rotation ended; absent while it runs. */
  outcome?: RotationOutput["outcome"] | "terminated" | "crashed";
  progress?: RotationProgressView;
  createdAt?: string;
  lastUpdatedAt?: string;
  versionBefore?: string;
  versionAfter?: string;
  /** When refused: the rotation that holds the key. */
  heldBy?: string;
  error?: { code: string; message: string };
}

const iso = (d: Date | string | undefined): string | undefined => {
  if (d === undefined) return undefined;
  const t = new Date(d);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
};
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

function progressOf(p: Record<string, unknown> | undefined, createdAt: string | undefined, updatedAt: string | undefined, running: boolean, leg?: DurableInstanceStatus): RotationProgressView | undefined {
  const rewrapped = num(p?.rewrapped);
  if (rewrapped === undefined) return undefined;
  const moving = running ? legProgress(leg, rewrapped, typeof p?.startedAt === "string" ? iso(p.startedAt) : undefined) : undefined;
  if (moving) {
    const total = Math.max(num(p?.total) ?? moving.rewrapped, moving.rewrapped);
    const remaining = total - moving.rewrapped;
    return {
      rewrapped: moving.rewrapped, total, perSec: moving.perSec, throttled: Math.max(moving.throttled, num(p?.throttled) ?? 0),
      ...(moving.perSec > 0 && remaining > 0 ? { eta: new Date(moving.atMs + (remaining / moving.perSec) * 1000).toISOString() } : {}),
    };
  }
  const total = Math.max(num(p?.total) ?? num(p?.scanned) ?? rewrapped, rewrapped);
  const seconds = createdAt && updatedAt ? (Date.parse(updatedAt) - Date.parse(createdAt)) / 1000 : 0;
  const perSec = seconds > 0 ? Math.round((rewrapped / seconds) * 10) / 10 : 0;
  const remaining = total - rewrapped;
  return {
    rewrapped, total, perSec, throttled: num(p?.throttled) ?? 0,
    ...(running && perSec > 0 && remaining > 0 && updatedAt ? { eta: new Date(Date.parse(updatedAt) + (remaining / perSec) * 1000).toISOString() } : {}),
  };
}

/** What a running rewrap leg adds to the rotation's own count. The rotation's custom status moves
 * only between legs (it waits on the leg meanwhile), and a small rewrap is a single leg: without the
 * leg, progress would read 0 until the rewrap is over. The leg's custom status counts the whole pass
 * after every wave of ranges. The rate is the pass's count over the time since the pass started
 * (`passStartedAt`), else what the leg moved (above `base`, the rotation's count when the leg began)
 * over the leg's own time: never diluted by the phases before the rewrap. */
function legProgress(leg: DurableInstanceStatus | undefined, base: number, passStartedAt: string | undefined): { rewrapped: number; perSec: number; throttled: number; atMs: number } | undefined {
  if (!leg || !["Pending", "Running", "ContinuedAsNew"].includes(leg.runtimeStatus ?? "")) return undefined;
  const c = obj(leg.customStatus);
  const rewrapped = num(c?.rewrapped);
  if (rewrapped === undefined || rewrapped <= base) return undefined;
  const from = passStartedAt ?? iso(leg.createdTime);
  const moved = passStartedAt ? rewrapped : rewrapped - base;
  const at = iso(leg.lastUpdatedTime);
  const seconds = from && at ? (Date.parse(at) - Date.parse(from)) / 1000 : 0;
  const perSec = seconds > 0 ? Math.round((moved / seconds) * 10) / 10 : 0;
  return { rewrapped, perSec, throttled: num(c?.throttled) ?? 0, atMs: at ? Date.parse(at) : 0 };
}

/** The instance id of the rewrap leg a running rotation waits on, as its custom status names it
 * (lib/orchestration/rewrap rewrapAll); the caller reads that leg's status for rotationStatusView. */
export function runningRewrapLeg(st: DurableInstanceStatus): string | undefined {
  if (!["Pending", "Running", "ContinuedAsNew", "Suspended"].includes(st.runtimeStatus ?? "")) return undefined;
  const custom = obj(st.customStatus);
  const leg = obj(custom?.progress)?.leg;
  return custom?.phase === "rewrapping" && typeof leg === "string" && leg.length > 0 ? leg : undefined;
}

/** Maps a rotation instance's durable status to the API's view. `rotationId` is the one asked for
 * (the instance id is its encoded form); `leg`: the status of the rewrap leg it runs
 * (runningRewrapLeg), whose per-wave count and rate the progress shows. */
export function rotationStatusView(rotationId: string, st: DurableInstanceStatus, leg?: DurableInstanceStatus): RotationStatusView {
  const input = obj(st.input) ?? {};
  const custom = obj(st.customStatus);
  const out = obj(st.output) as Partial<RotationOutput> | undefined;
  const runtimeStatus = st.runtimeStatus ?? "Unknown";
  const running = ["Pending", "Running", "ContinuedAsNew", "Suspended"].includes(runtimeStatus);
  const createdAt = iso(st.createdTime);
  const lastUpdatedAt = iso(st.lastUpdatedTime);
  const trigger = typeof input.trigger === "string" && (ROTATION_TRIGGERS as readonly string[]).includes(input.trigger) ? (input.trigger as RotationTrigger) : undefined;
  const keyId = typeof input.keyId === "string" ? input.keyId : out?.keyId;

  let phase: RotationPhase;
  let outcome: RotationStatusView["outcome"];
  let error: RotationStatusView["error"];
  if (running) {
    const p = custom?.phase;
    phase = typeof p === "string" && (ROTATION_PHASES as readonly string[]).includes(p) ? (p as RotationPhase) : "requested";
  } else if (runtimeStatus === "Completed" && out?.outcome) {
    outcome = out.outcome;
    phase = out.outcome === "completed" ? "completed" : out.outcome === "failed" ? "failed" : "aborted";
    error = out.error ?? (out.outcome === "refused" ? { code: "LockHeld", message: `${keyId ?? "the key"} is being rotated by ${out.heldBy ?? "another rotation"}` } : undefined);
  } else if (runtimeStatus === "Terminated") {
    outcome = "terminated";
    phase = "aborted";
    error = { code: "Terminated", message: typeof st.output === "string" ? st.output.slice(0, 500) : "terminated" };
  } else {
    // Failed: the orchestrator itself faulted (a bug, not a handled rotation failure).
    outcome = "crashed";
    phase = "failed";
    error = { code: "OrchestratorFailed", message: (typeof st.output === "string" ? st.output : JSON.stringify(st.output ?? null)).slice(0, 500) };
  }
  const progress = progressOf(obj(custom?.progress) ?? (out?.counts), createdAt, lastUpdatedAt, running, leg);
  return {
    rotationId, ...(keyId ? { keyId } : {}), ...(trigger ? { trigger } : {}), phase, runtimeStatus,
    ...(outcome ? { outcome } : {}), ...(progress ? { progress } : {}),
    ...(createdAt ? { createdAt } : {}), ...(lastUpdatedAt ? { lastUpdatedAt } : {}),
    ...(out?.versionBefore ? { versionBefore: out.versionBefore } : {}), ...(out?.versionAfter ? { versionAfter: out.versionAfter } : {}),
    ...(out?.heldBy ? { heldBy: out.heldBy } : {}), ...(error ? { error } : {}),
  };
}

/** What an emergency did to the compromised version: revoked (which, when, by whose acceptance of
 * data loss), or not, and why. An operator under pressure must not have to read the ledger for it. */
export interface RevocationView {
  revoked: boolean;
  /** The compromised version (the one revoked, or the one that would be). */
  version?: string;
  at?: string;
  dataLossAcceptedBy?: string;
  because: string;
}

/** The facts revocationOf decides from: the emergency's input, how the rotation stands, and the
 * rotation's Revoked ledger entry if there is one. */
export interface RevocationFacts {
  revokeOld?: boolean;
  /** The version named compromised (the input's compromisedVersion), else the one it replaced. */
  target?: string;
  /** Still running, pending approval, or ended. */
  state: "pendingApproval" | "running" | "ended";
  phase?: RotationPhase;
  error?: { code: string; message: string };
  revokedEntry?: { version?: string; at?: string; dataLossAcceptedBy?: string; remainingReferences?: number };
}

export function revocationOf(f: RevocationFacts): RevocationView {
  const version = f.revokedEntry?.version ?? f.target;
  const v = version ? { version } : {};
  if (f.revokedEntry) {
    const accepted = f.revokedEntry.dataLossAcceptedBy;
    return {
      revoked: true, ...v, ...(f.revokedEntry.at ? { at: f.revokedEntry.at } : {}), ...(accepted ? { dataLossAcceptedBy: accepted } : {}),
      because: accepted
        ? `revoked with ${f.revokedEntry.remainingReferences ?? "some"} references left: ${accepted} accepted the data loss`
        : "revoked: a count proved nothing references it any more",
    };
  }
  if (f.revokeOld === false) {
    return { revoked: false, ...v, because: "not revoked: revokeOld was not requested; the old version stays enabled for decryption and retires after the overlap once nothing references it" };
  }
  if (f.state === "pendingApproval") return { revoked: false, ...v, because: "not yet: the emergency awaits a second person's approval" };
  if (f.state === "running") return { revoked: false, ...v, because: "not yet: revoked once the rotation proves nothing references it (or the approver accepted data loss)" };
  if (f.error?.code === "ReferencesRemain") {
    return { revoked: false, ...v, because: `not revoked: ${f.error.message} (an approver may accept the data loss on a new emergency: keyrotor approve --accept-data-loss)` };
  }
  if (f.phase && f.phase !== "completed") {
    return { revoked: false, ...v, because: `not revoked: the rotation ended ${f.phase} before revoking${f.error ? ` (${f.error.code}: ${f.error.message})` : ""}` };
  }
  if (!version) return { revoked: false, because: "not revoked: the key had no earlier version to revoke" };
  return { revoked: false, ...v, because: "not revoked: the rotation ended without a Revoked ledger entry" };
}
