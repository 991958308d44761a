// Rotations through the API: normal rotations start at once; emergencies are recorded and wait for
// a second person (lib/domain/approval.ts); status and history for operators and auditors.
//
// History (GET /api/rotations) is read from the ledger, not from durable instances: the ledger is
// the permanent, hash-chained record (instances are purged, and a pending emergency has no
// instance yet), and it already carries trigger, actor, reason and outcome per rotationId.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { MIN_REASON_LENGTH, openEmergency, requesterId, type EmergencyRequest } from "../domain/approval";
import { InvalidRequestError } from "../domain/errors";
import { checkEvidence } from "../domain/evidence";
import { parseKeyId, ROTATION_MODES, rotationIds, TERMINAL_PHASES, type ManagedKey, type RotationPhase, type RotationTrigger } from "../domain/keys";
import { entryIdFor } from "../orchestration/activities";
import { startRotation, type StartOptions } from "../orchestration/start";
import { revocationOf, rotationStatusView, runningRewrapLeg, type RevocationView, type RotationStatusView } from "../orchestration/status";
import { BranchKeysScopeSchema } from "../orchestration/flows/types";
import { instanceIdFor, type RotationOutput, type RotationRequest, type RotationStatus } from "../orchestration/workflows";
import type { LedgerEntry } from "../ports";
import type { Principal } from "../http/principal";
import { notify } from "./notify";
import { statusUrl } from "./routes";
import type { ApiServices, DurableStatusView, RotationClient } from "./ports";
import { approvalWindowMs } from "./services";

// The approval flow lives in ./approve; statusUrl lives with the routes (both flows answer with it).
export { statusUrl };
export { approveRotation } from "./approve";

const keyIdField = z.string().min(1).max(300);
const reasonField = z.string().min(1).max(500);

export const RotationRequestBody = z.strictObject({
  keyId: keyIdField,
  reason: reasonField,
  mode: z.enum(ROTATION_MODES),
  revokeOld: z.boolean().optional(),
  /** emergency only: the compromised version (default: the current primary). */
  version: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a version id").optional(),
  /** normal mode, a KEK: its format-1 DEKs move under branch keys (key hierarchy) instead of being re-wrapped flat. */
  migrateFlat: z.boolean().optional().describe("Normal mode, a KEK: move its format-1 DEKs under branch keys (docs/key-hierarchy.md) instead of re-wrapping them flat"),
  branchKeys: BranchKeysScopeSchema.optional()
    .describe("Normal mode, a KEK with branch keys: a branch-key rotation instead of a KEK rotation (no new KEK version): the branch keys named (true: every one; {tenants}: the ones those tenants are assigned to; {branchIds}: these) each get a new version wrapped under the KEK's current primary version, their DEKs re-wrapped locally, the old version destroyed (docs/key-hierarchy.md). Not with version or migrateFlat"),
});
export type RotationRequestBody = z.output<typeof RotationRequestBody>;

/** POST /api/rotations' body as it arrives over HTTP: RotationRequestBody, where `mode: "manual"`
 * (the API's word before the API and the workflow shared one) is still accepted as a deprecated
 * alias and read as "normal" here, at the HTTP edge: nothing past this schema sees "manual". */
export const PostRotationBody = RotationRequestBody.extend({
  mode: z.union([
    z.enum(ROTATION_MODES),
    z.literal("manual").meta({ deprecated: true, description: "Deprecated alias of \"normal\"" }),
  ], { error: `must be one of ${ROTATION_MODES.map((m) => `"${m}"`).join(", ")}` }).transform((m) => (m === "manual" ? "normal" : m)),
});

export const CompromiseBody = z.strictObject({
  keyId: keyIdField,
  /** Where the evidence is (a ticket id or URL, a detector's finding id); never the evidence itself
   * and never key material: only a SHA-256 digest and a bounded, scrubbed reference are kept
   * (lib/domain/evidence.ts), and values that look like key material or credentials are refused. */
  evidence: z.string().min(1).max(4000),
  reason: reasonField,
  /** Default true: a compromised version is disabled once nothing references it. */
  revokeOld: z.boolean().optional(),
  /** The compromised version (default: the current primary). */
  version: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a version id").optional(),
});
export type CompromiseBody = z.output<typeof CompromiseBody>;

/** An empty body or {} approves. `acceptDataLoss: true` (an emergency with revokeOld only) is the
 * approver's explicit acceptance that a version with references left is revoked anyway: without it
 * such a revoke stops as failed (nothing may become undecryptable without that acceptance). */
export const ApproveFields = z.strictObject({
  acceptDataLoss: z.literal(true).optional(),
  /** An emergency of a KEK with branch keys: every tenant also gets a new DEK version, so consumers
   * re-encrypt their data (docs/key-hierarchy.md). Not for the approval of a rollback. */
  newDekVersions: z.literal(true).optional().describe("Emergency of a KEK with branch keys: every tenant also gets a new DEK version, so consumers re-encrypt their data"),
});
export const ApproveBody = ApproveFields.optional();
export type ApproveBody = z.output<typeof ApproveBody>;

export const ROTATION_ID = z.string().min(3).max(400).regex(/^[^\p{Cc}]+$/u, "must not contain control characters");

export interface Accepted {
  rotationId: string;
  status: "running" | "pendingApproval";
  statusUrl: string;
  approveBy?: string;
  approvedBy?: string;
}

/** Unique per request; sortable by time so ids read in order. */
export function requestId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, "").slice(0, 15)}-${randomBytes(4).toString("hex")}`;
}

/** GET /api/rotations/{*rotationId}: the id's "/" stays a "/" (see lib/api/routes.ts for why). */
/** The key must be in the inventory (a tenant's first DEK is created by onboarding, which names
 * its KEK, not by this API). */
async function managedKey(s: ApiServices, keyId: string): Promise<ManagedKey> {
  parseKeyId(keyId);
  const found = await s.inventory.get(keyId);
  if (!found) {
    throw new InvalidRequestError("KeyNotManaged", `${keyId} is not in keyrotor's inventory`, { status: 404, field: "keyId" });
  }
  return found.key;
}

/** One reason rule for every mode (manual and emergency here; compromise, rollback and lock break
 * apply the same MIN_REASON_LENGTH): the ledger's "why" must say something. Checked before the key
 * is looked up, so bad input is a 400 whatever the key. */
function requireReason(reason: string): void {
  if (reason.trim().length < MIN_REASON_LENGTH) {
    throw new InvalidRequestError("ReasonTooShort", `reason must be at least ${MIN_REASON_LENGTH} characters`, { field: "reason" });
  }
}

export async function requestRotation(s: ApiServices, client: RotationClient, who: Principal, body: RotationRequestBody, opts: StartOptions = {}): Promise<Accepted> {
  requireReason(body.reason);
  const key = await managedKey(s, body.keyId);
  // The inventory's (canonical) spelling from here on: every spelling of one key takes one lock.
  body = { ...body, keyId: key.keyId };
  if (body.branchKeys !== undefined && (body.version !== undefined || body.migrateFlat !== undefined)) {
    throw new InvalidRequestError("BranchKeysStandalone", "branchKeys asks for a branch-key rotation, which makes no new KEK version: it takes neither version nor migrateFlat (rotate the KEK in a request of its own)", { field: "branchKeys" });
  }
  if (body.version !== undefined && body.mode !== "emergency") {
    throw new InvalidRequestError("VersionNotApplicable", "version names a compromised version: emergency mode only", { field: "version" });
  }
  // Revoking disables a version at once, whatever still references it: one person must never do
  // that alone (no single person revokes, disables or invalidates a version). Old versions of a normal rotation retire after the overlap, with a
  // zero-reference proof; revoking is for emergencies, which a second person approves.
  if (body.revokeOld === true && body.mode !== "emergency") {
    throw new InvalidRequestError("RevokeOldNeedsEmergency", "revokeOld needs mode \"emergency\" (a second person's approval); a normal rotation retires the old version after the overlap instead", { field: "revokeOld" });
  }
  if (body.migrateFlat === true && (body.mode === "emergency" || key.kind !== "kek")) {
    throw new InvalidRequestError("MigrateFlatNotApplicable", "migrateFlat moves a KEK's DEKs under branch keys in a normal rotation: not in emergency mode, and only for a KEK", { field: "migrateFlat" });
  }
  if (body.branchKeys !== undefined && (body.mode === "emergency" || key.kind !== "kek")) {
    throw new InvalidRequestError("BranchKeysNotApplicable", "branchKeys rotates a KEK's branch keys in a normal rotation: not in emergency mode (which replaces them anyway), and only for a KEK", { field: "branchKeys" });
  }
  if (body.mode === "emergency") {
    const { version, migrateFlat: _migrate, branchKeys: _branchKeys, ...rest } = body;
    return requestEmergency(s, who, { ...rest, source: "api", ...compromised(key, version) });
  }
  // Named tenants and branch ids must be the KEK's: a 4xx before anything starts.
  if (body.branchKeys !== undefined) await s.branchScope?.check(body.keyId, body.branchKeys);
  const rotationId = rotationIds.manual(body.keyId, requestId(s.clock.now()));
  const request: RotationRequest = {
    rotationId, keyId: body.keyId, trigger: "manual", actor: who.name, reason: body.reason, mode: "normal", revokeOld: false,
    ...(body.migrateFlat === true ? { migrateFlat: true } : {}),
    ...(body.branchKeys !== undefined ? { branchKeys: body.branchKeys } : {}),
  };
  await startRotation(client, request, opts);
  return { rotationId, status: "running", statusUrl: statusUrl(rotationId) };
}

export async function reportCompromise(s: ApiServices, who: Principal, body: CompromiseBody): Promise<Accepted> {
  const key = await managedKey(s, body.keyId);
  return requestEmergency(s, who, { keyId: key.keyId, reason: body.reason, revokeOld: body.revokeOld ?? true, source: "compromise-signal", evidence: body.evidence, ...compromised(key, body.version) });
}

/** What an emergency reports as compromised: the named version, else the one in use when it was
 * reported. A named version must be one of the key's, and not already revoked. */
function compromised(key: ManagedKey, named?: string): { compromisedVersion?: string } {
  if (named !== undefined) {
    const v = key.versions.find((x) => x.version === named);
    if (!v) throw new InvalidRequestError("VersionUnknown", `${key.keyId} has no version ${named}`, { status: 404, field: "version" });
    if (v.state === "revoked") throw new InvalidRequestError("VersionRevoked", `${key.keyId} version ${named} is already revoked`, { status: 409, field: "version" });
    return { compromisedVersion: named };
  }
  return key.primaryVersion ? { compromisedVersion: key.primaryVersion } : {};
}

async function requestEmergency(
  s: ApiServices,
  who: Principal,
  r: { keyId: string; reason: string; revokeOld?: boolean; source: EmergencyRequest["source"]; evidence?: string; compromisedVersion?: string },
): Promise<Accepted> {
  const now = s.clock.now();
  const rotationId = rotationIds.emergency(r.keyId, requestId(now));
  // Refused before anything is written; only the digest and the scrubbed reference go on.
  const evidence = r.evidence !== undefined ? checkEvidence(r.evidence) : undefined;
  const req = openEmergency({
    rotationId, keyId: r.keyId, requestedBy: { id: who.id, name: who.name }, reason: r.reason, revokeOld: r.revokeOld ?? false, now, windowMs: approvalWindowMs(s.settings),
    source: r.source, ...(evidence ? { evidence: evidence.reference } : {}), ...(r.compromisedVersion ? { compromisedVersion: r.compromisedVersion } : {}),
  });
  await s.approvals.create(req);
  // Same entryId as the orchestration's own "requested" step, so the rotation does not record it twice.
  await s.ledger.append({
    keyId: r.keyId, entryId: entryIdFor(rotationId, "requested"), type: "EmergencyRequested", rotationId, trigger: "emergency",
    actor: who.name, reason: req.reason, at: req.requestedAt,
    details: {
      actorId: who.id, revokeOld: req.revokeOld, approveBy: req.approveBy, source: req.source, ...(req.compromisedVersion ? { compromisedVersion: req.compromisedVersion } : {}),
      ...(evidence ? { evidenceSha256: evidence.sha256, evidence: evidence.reference } : {}),
    },
  });
  await notify(s, { type: "EmergencyRequested", keyId: r.keyId, occurrenceId: rotationId, rotationId, details: { requestedBy: who.name, approveBy: req.approveBy, source: req.source } });
  return { rotationId, status: "pendingApproval", statusUrl: statusUrl(rotationId), approveBy: req.approveBy };
}

// ---- status -------------------------------------------------------------------------------------

/** GET /api/rotations/{id}: the durable status mapped once (lib/orchestration/status.ts
 * rotationStatusView: phase, outcome, progress, error), plus who asked and why, the lock, the final
 * counts and, for emergencies, the approval. */
export interface RotationView extends Omit<RotationStatusView, "runtimeStatus"> {
  /** Durable runtime status, or pendingApproval / approvalExpired before an emergency starts. */
  runtimeStatus: string;
  actor?: string;
  reason?: string;
  lock?: RotationStatus["lock"];
  counts?: Record<string, number>;
  /** Emergencies only: which version was revoked, or that none was and why. */
  revocation?: RevocationView;
  approval?: {
    requestedBy: string; requestedById: string; approveBy: string; status: EmergencyRequest["status"];
    approvedBy?: string; approvedById?: string; approvedAt?: string; dataLossAcceptedBy?: string; dataLossAcceptedAt?: string; rollbackOf?: string;
  };
}

/** An approval shows who approved only once it is effective (its rotation started). */
function approvalOf(a: EmergencyRequest): NonNullable<RotationView["approval"]> {
  const effective = a.status === "approved";
  return {
    requestedBy: a.requestedBy, requestedById: requesterId(a), approveBy: a.approveBy, status: a.status,
    ...(effective && a.approvedBy ? { approvedBy: a.approvedBy, approvedById: a.approvedById ?? a.approvedBy, approvedAt: a.approvedAt } : {}),
    ...(effective && a.dataLossAcceptedBy ? { dataLossAcceptedBy: a.dataLossAcceptedBy, dataLossAcceptedAt: a.dataLossAcceptedAt } : {}),
    ...(a.rollbackOf ? { rollbackOf: a.rollbackOf.rotationId } : {}),
  };
}

async function durableStatus(client: RotationClient, instanceId: string): Promise<DurableStatusView | undefined> {
  try {
    const st = await client.getStatus(instanceId);
    return st?.runtimeStatus ? st : undefined;
  } catch (err) {
    if (/404|not found/i.test((err as Error).message ?? "")) return undefined;
    throw err;
  }
}

/** An emergency's revocation, from its input, its outcome and its Revoked ledger entry. */
async function emergencyRevocation(s: ApiServices, rotationId: string, view: RotationStatusView, input: Partial<RotationRequest>): Promise<RevocationView> {
  let revoked: LedgerEntry | undefined;
  if (view.keyId) {
    for await (const e of s.ledger.entries(view.keyId)) {
      if (e.type === "Revoked" && e.rotationId === rotationId) revoked = e;
    }
  }
  const accepted = revoked?.details?.dataLossAcceptedBy;
  const remaining = revoked?.counts?.remainingReferences;
  const target = input.compromisedVersion ?? view.versionBefore;
  return revocationOf({
    ...(input.revokeOld !== undefined ? { revokeOld: input.revokeOld } : {}), ...(target ? { target } : {}),
    state: view.outcome ? "ended" : "running", phase: view.phase, ...(view.error ? { error: view.error } : {}),
    ...(revoked ? { revokedEntry: {
      ...(revoked.versionBefore ? { version: revoked.versionBefore } : {}), at: revoked.at,
      ...(typeof accepted === "string" ? { dataLossAcceptedBy: accepted } : {}), ...(remaining !== undefined ? { remainingReferences: remaining } : {}),
    } } : {}),
  });
}

export async function getRotation(s: ApiServices, client: RotationClient, rotationId: string): Promise<RotationView> {
  const [st, approval] = await Promise.all([durableStatus(client, instanceIdFor(rotationId)), s.approvals.get(rotationId)]);
  const a = approval?.request;
  const approvalView = a ? { approval: approvalOf(a) } : {};
  // A start refused for a held lock left an instance that never ran: the request is what counts.
  const refused = (st?.output as Partial<RotationOutput> | undefined)?.outcome === "refused" && a !== undefined && a.status !== "approved";
  if (!st || refused) {
    if (!a) throw new InvalidRequestError("NotFound", `no rotation ${rotationId}`, { status: 404, field: "rotationId" });
    const expired = a.status === "pendingApproval" && s.clock.now().getTime() > Date.parse(a.approveBy);
    const revocation = a.rollbackOf ? undefined : revocationOf({
      revokeOld: a.revokeOld, ...(a.compromisedVersion ? { target: a.compromisedVersion } : {}), state: expired ? "ended" : "pendingApproval", phase: "aborted",
      ...(expired ? { error: { code: "ApprovalExpired", message: `no second person approved it by ${a.approveBy}` } } : {}),
    });
    return {
      rotationId, keyId: a.keyId, trigger: a.rollbackOf ? "manual" : "emergency", actor: a.requestedBy, reason: a.reason, phase: a.status === "approved" ? "approved" : "requested",
      runtimeStatus: expired ? "approvalExpired" : a.status, createdAt: a.requestedAt, lastUpdatedAt: a.approvedAt ?? a.requestedAt, ...approvalView,
      ...(revocation ? { revocation } : {}),
    };
  }
  // While the rewrap runs, its leg's own status moves after every wave (the rotation's only per leg).
  const legId = runningRewrapLeg(st);
  const view = rotationStatusView(rotationId, st, legId ? await durableStatus(client, legId) : undefined);
  const input = (st.input ?? {}) as Partial<RotationRequest>;
  const custom = st.customStatus as Partial<RotationStatus> | undefined;
  const out = st.output as Partial<RotationOutput> | undefined;
  const revocation = input.mode === "emergency" ? await emergencyRevocation(s, rotationId, view, input) : undefined;
  return {
    ...view, ...(view.keyId === undefined && a?.keyId ? { keyId: a.keyId } : {}), ...(revocation ? { revocation } : {}),
    ...(input.actor ? { actor: input.actor } : {}), ...(input.reason ? { reason: input.reason } : {}),
    ...(custom?.lock ? { lock: custom.lock } : {}), ...(out?.counts ? { counts: out.counts } : {}),
    ...approvalView,
  };
}

// ---- history (from the ledger) -----------------------------------------------------------------

export interface RotationSummary {
  rotationId: string;
  keyId: string;
  trigger?: RotationTrigger;
  requestedBy: string;
  reason?: string;
  requestedAt: string;
  lastUpdatedAt: string;
  phase: RotationPhase;
  /** running | pendingApproval | completed | failed | aborted */
  status: string;
  approvedBy?: string;
  versionBefore?: string;
  versionAfter?: string;
}

const PHASE_OF: Partial<Record<LedgerEntry["type"], RotationPhase>> = {
  RotationRequested: "requested", EmergencyRequested: "requested", Approved: "approved", LockAcquired: "locked",
  VersionCreated: "versionCreated", Promoted: "promoted", RewrapProgress: "rewrapping", RewrapCompleted: "rewrapped",
  Completed: "completed", Failed: "failed", Aborted: "aborted",
};
/** Chains that are not managed keys: the Event Grid trigger's and the policy audit trails. */
export const SYSTEM_CHAIN = /^(system|policy):/;

function summarize(entries: LedgerEntry[]): RotationSummary[] {
  const byId = new Map<string, RotationSummary>();
  for (const e of entries) {
    if (!e.rotationId) continue;
    const phase = PHASE_OF[e.type];
    let r = byId.get(e.rotationId);
    if (!r) {
      if (phase === undefined) continue;
      r = { rotationId: e.rotationId, keyId: e.keyId, requestedBy: e.actor, requestedAt: e.at, lastUpdatedAt: e.at, phase, status: "running" };
      byId.set(e.rotationId, r);
    }
    if (e.trigger && !r.trigger) r.trigger = e.trigger;
    if (e.reason && !r.reason) r.reason = e.reason;
    r.lastUpdatedAt = e.at;
    if (e.type === "Approved") r.approvedBy = e.actor;
    if (e.versionBefore) r.versionBefore = e.versionBefore;
    if (e.versionAfter) r.versionAfter = e.versionAfter;
    if (phase !== undefined && !TERMINAL_PHASES.includes(r.phase)) r.phase = phase;
    // An emergency, or the rollback of one, waits for a second person until it starts.
    if ((e.type === "EmergencyRequested" || e.details?.["needsApproval"] === true) && r.phase === "requested") r.status = "pendingApproval";
  }
  for (const r of byId.values()) {
    if (TERMINAL_PHASES.includes(r.phase)) r.status = r.phase;
    else if (r.phase !== "requested") r.status = "running";
  }
  return [...byId.values()];
}

export async function listRotations(s: ApiServices, opts: { keyId?: string; limit: number }): Promise<RotationSummary[]> {
  const chains: string[] = [];
  if (opts.keyId !== undefined) chains.push(opts.keyId);
  else for await (const k of s.ledger.chainIds()) if (!SYSTEM_CHAIN.test(k)) chains.push(k);
  const all: RotationSummary[] = [];
  for (const keyId of chains) {
    const entries: LedgerEntry[] = [];
    for await (const e of s.ledger.entries(keyId)) entries.push(e);
    all.push(...summarize(entries));
  }
  all.sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : a.requestedAt > b.requestedAt ? -1 : a.rotationId < b.rotationId ? 1 : -1));
  return all.slice(0, opts.limit);
}
