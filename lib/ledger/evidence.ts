// Compliance evidence for a period, built from the ledger alone (plus the policies and inventory as
// plain inputs): per key, its rotations (when, trigger, who asked, who approved, why, outcome) and
// whether it was rotated within its policy's interval; emergency rotations with their approvals;
// failures and how they ended; keys without a policy. The pack embeds verify() and the seals, so it
// proves that the ledger it was built from is intact. evidenceFormat.ts renders it.
import { DateTime, Duration } from "luxon";
import type { LedgerEntry, LedgerSeal, LedgerVerification } from "../ports";
import { InvalidRequestError } from "../domain/errors";
import { controlsFor, unknownTags } from "./controls";
import type {
  CryptoperiodException, EmergencyRecord, EvidenceInput, EvidenceKey, EvidencePack, EvidencePeriod, EvidencePolicy,
  EvidenceSummary, FailureRecord, KeyCompliance, RotationRecord,
} from "./evidenceTypes";

export type * from "./evidenceTypes";

// ---- building -----------------------------------------------------------------------------------

const DAY_MS = 86_400_000;

function checkPeriod(p: EvidencePeriod): void {
  const from = Date.parse(p.from), to = Date.parse(p.to);
  if (Number.isNaN(from) || Number.isNaN(to) || from >= to) {
    throw new InvalidRequestError("PeriodInvalid", `[keyrotor] [evidence] the period must be two ISO instants, from < to (got ${p.from} .. ${p.to})`, { field: "period" });
  }
}

function dueFn(policy: EvidencePolicy): ((last: Date) => Date) | undefined {
  if (policy.dueAfter) return policy.dueAfter;
  if (policy.interval === undefined) return undefined;
  const d = Duration.fromISO(policy.interval);
  if (!d.isValid) throw new InvalidRequestError("PolicyInvalid", `[keyrotor] [evidence] policy ${policy.policyId} has an interval that is not an ISO-8601 duration: ${policy.interval}`, { field: "interval" });
  return (last) => DateTime.fromJSDate(last, { zone: "utc" }).plus(d).toJSDate();
}

class RotationAccumulator {
  readonly rec: RotationRecord;
  failure?: { at: string; error: { code: string; message: string } };
  private changedPrimary = false;
  private retired = false;
  constructor(e: LedgerEntry, rotationId: string) {
    this.rec = { keyId: e.keyId, rotationId, requestedAt: e.at, requestedBy: e.actor, approvals: [], outcome: "inProgress", kind: "rotation", revokedVersions: [], seqs: { first: e.seq, last: e.seq, count: 0 } };
  }
  /** Called once every entry is in: a rotation that only retired versions is a retirement. */
  finish(): void {
    if (this.rec.kind === "rotation" && this.retired && !this.changedPrimary) this.rec.kind = "retirement";
  }
  add(e: LedgerEntry): void {
    const r = this.rec;
    r.seqs.last = e.seq;
    r.seqs.count += 1;
    if (e.trigger && !r.trigger) r.trigger = e.trigger;
    if (e.versionBefore && !r.versionBefore) r.versionBefore = e.versionBefore;
    const rollbackOf = e.details?.rollbackOf;
    if (typeof rollbackOf === "string") {
      r.kind = "rollback";
      r.rollbackOf = rollbackOf;
    }
    const actorId = typeof e.details?.actorId === "string" ? e.details.actorId : undefined;
    switch (e.type) {
      case "RotationRequested":
      case "EmergencyRequested":
        r.requestedAt = e.at;
        r.requestedBy = e.actor;
        if (actorId !== undefined) r.requestedById = actorId;
        if (e.type === "EmergencyRequested") r.trigger = "emergency";
        if (e.reason !== undefined) r.reason = e.reason;
        break;
      case "Approved": {
        r.approvals.push({ by: e.actor, ...(actorId !== undefined ? { byId: actorId } : {}), at: e.at });
        // The approval restates who asked, by id (the request entry may predate recorded ids).
        const requestedById = e.details?.requestedById;
        if (r.requestedById === undefined && typeof requestedById === "string") r.requestedById = requestedById;
        break;
      }
      case "VersionCreated":
      case "Promoted":
        this.changedPrimary = true;
        if (e.versionAfter) r.versionAfter = e.versionAfter;
        break;
      case "Retired":
        this.retired = true;
        break;
      case "Revoked":
        if (e.versionBefore) r.revokedVersions.push(e.versionBefore);
        break;
      case "Validation": {
        // What was checked against which version, and the outcome (the evidence's Validation section).
        const d = e.details ?? {};
        const text = (k: string): string | undefined => (typeof d[k] === "string" ? d[k] : undefined);
        (r.validations ??= []).push({
          at: e.at, gate: text("gate") ?? "unknown", outcome: d.outcome === "passed" ? "passed" : "failed",
          ...(text("stage") ? { stage: text("stage") } : {}), ...(text("check") ? { check: text("check") } : {}),
          ...(e.versionAfter ? { version: e.versionAfter } : {}), ...(text("reason") ? { reason: text("reason") } : {}),
          ...(e.counts?.checked !== undefined ? { checked: e.counts.checked } : {}), ...(e.counts?.failed !== undefined ? { failed: e.counts.failed } : {}),
        });
        break;
      }
      case "Completed":
        // A rollback's workflow ends with Completed after its RolledBack: it stays a rollback.
        if (r.outcome !== "rolledBack") r.outcome = "completed";
        r.endedAt = e.at;
        if (e.versionAfter) r.versionAfter = e.versionAfter;
        break;
      case "Failed":
        r.outcome = "failed";
        r.endedAt = e.at;
        this.failure = { at: e.at, error: e.error ?? { code: "Unknown", message: "the ledger entry carries no error" } };
        r.error = { ...this.failure.error, at: e.at };
        break;
      case "Aborted":
        r.outcome = "aborted";
        r.endedAt = e.at;
        break;
      case "RolledBack":
        r.kind = "rollback";
        r.outcome = "rolledBack";
        r.endedAt = e.at;
        if (e.versionAfter) r.versionAfter = e.versionAfter;
        break;
      default:
        break;
    }
    if (r.reason === undefined && e.reason !== undefined) r.reason = e.reason;
  }
}

interface KeyHistory {
  rotations: RotationAccumulator[];
}

async function historyOf(ledger: EvidenceInput["ledger"], keyId: string, until: string): Promise<KeyHistory> {
  const byId = new Map<string, RotationAccumulator>();
  for await (const e of ledger.entries(keyId)) {
    if (e.at >= until) continue;
    if (!e.rotationId) continue;
    let acc = byId.get(e.rotationId);
    if (!acc) {
      acc = new RotationAccumulator(e, e.rotationId);
      byId.set(e.rotationId, acc);
    }
    acc.add(e);
  }
  const rotations = [...byId.values()].sort((a, b) => a.rec.seqs.first - b.rec.seqs.first);
  for (const acc of rotations) {
    acc.finish();
    const undone = acc.rec.kind === "rollback" && acc.rec.outcome === "rolledBack" && acc.rec.rollbackOf !== undefined ? byId.get(acc.rec.rollbackOf) : undefined;
    if (undone) undone.rec.rolledBackBy = acc.rec.rotationId;
  }
  return { rotations };
}

const touchesPeriod = (r: RotationRecord, p: EvidencePeriod) =>
  (r.requestedAt >= p.from && r.requestedAt < p.to) || (r.endedAt !== undefined && r.endedAt >= p.from && r.endedAt < p.to);

function resolve(acc: RotationAccumulator, later: RotationAccumulator[]): Pick<FailureRecord, "resolution" | "resolvedBy"> {
  const r = acc.rec;
  if (r.outcome === "completed") return { resolution: "recoveredOnRetry", resolvedBy: { rotationId: r.rotationId, at: r.endedAt! } };
  if (r.outcome === "rolledBack") return { resolution: "rolledBack", resolvedBy: { rotationId: r.rotationId, at: r.endedAt! } };
  if (r.outcome === "aborted") return { resolution: "aborted", resolvedBy: { rotationId: r.rotationId, at: r.endedAt! } };
  const next = later.find((l) => l.rec.outcome === "completed" && (l.rec.endedAt ?? "") > (acc.failure?.at ?? ""));
  return next ? { resolution: "supersededByLaterRotation", resolvedBy: { rotationId: next.rec.rotationId, at: next.rec.endedAt! } } : { resolution: "unresolved" };
}

function complianceOf(key: EvidenceKey, policy: EvidencePolicy | undefined, history: KeyHistory, period: EvidencePeriod, asOf: Date): KeyCompliance {
  // Only a rotation that made a new version primary starts a cryptoperiod; a rollback re-promotes a
  // version whose cryptoperiod began when it was first promoted, so it restores that start instead
  // of restarting the clock (which would hide an overdue key). Retirements change no primary.
  const changes = history.rotations.map((a) => a.rec).filter((r) => r.endedAt !== undefined && (
    (r.kind === "rotation" && r.outcome === "completed") || (r.kind === "rollback" && r.outcome === "rolledBack")));
  const inPeriod = history.rotations.filter((r) => touchesPeriod(r.rec, period)).length;
  const base: KeyCompliance = { keyId: key.keyId, complianceTags: policy?.complianceTags ?? [], status: "noPolicy", daysOverdue: 0, lateInPeriod: [], rotationsInPeriod: inPeriod };
  if (key.policyId !== undefined) base.policyId = key.policyId;
  const due = policy ? dueFn(policy) : undefined;

  // The primary's history: each rotation pushes its version and start; a rollback pops back to the
  // re-promoted version's own start. Every rotation in the period is judged against the start before it.
  const starts: { version?: string; at: string; rotationId: string }[] = [];
  for (const r of changes) {
    const at = r.endedAt!;
    if (r.kind === "rollback") {
      const back = r.versionAfter !== undefined ? starts.findLastIndex((x) => x.version === r.versionAfter) : -1;
      starts.splice(back >= 0 ? back + 1 : Math.max(starts.length - 1, 0));
      continue;
    }
    const prev = starts.at(-1)?.at ?? key.createdAt;
    if (due && at >= period.from && prev !== undefined) {
      const dueAt = due(new Date(prev));
      const late = Date.parse(at) - dueAt.getTime();
      if (late > 0) base.lateInPeriod.push({ rotationId: r.rotationId, completedAt: at, dueAt: dueAt.toISOString(), daysLate: Math.ceil(late / DAY_MS) });
    }
    starts.push({ ...(r.versionAfter !== undefined ? { version: r.versionAfter } : {}), at, rotationId: r.rotationId });
  }
  const last = starts.at(-1);
  if (last) {
    base.lastRotatedAt = last.at;
    base.lastRotationId = last.rotationId;
  }
  if (!policy) return base;
  if (policy.interval !== undefined) base.interval = policy.interval;
  if (!due) return { ...base, status: "noSchedule" };
  const baseline = last?.at ?? key.createdAt;
  if (baseline === undefined) return { ...base, status: "noBaseline" };
  const dueAt = due(new Date(baseline));
  const overdueMs = asOf.getTime() - dueAt.getTime();
  return { ...base, dueAt: dueAt.toISOString(), status: overdueMs > 0 ? "overdue" : "compliant", daysOverdue: overdueMs > 0 ? Math.ceil(overdueMs / DAY_MS) : 0 };
}

/** Every late rotation in the period, and every key due and not rotated as of asOf. */
function exceptionsOf(compliance: KeyCompliance[]): CryptoperiodException[] {
  const out: CryptoperiodException[] = [];
  for (const c of compliance) {
    const policy = c.policyId !== undefined ? { policyId: c.policyId } : {};
    for (const l of c.lateInPeriod) out.push({ keyId: c.keyId, ...policy, kind: "late", dueAt: l.dueAt, days: l.daysLate, rotationId: l.rotationId, completedAt: l.completedAt });
    if (c.status === "overdue" && c.dueAt !== undefined) out.push({ keyId: c.keyId, ...policy, kind: "missed", dueAt: c.dueAt, days: c.daysOverdue });
  }
  return out;
}

function emergencyOf(r: RotationRecord): EmergencyRecord {
  const exceptions: EmergencyRecord["exceptions"] = [];
  if (r.approvals.length === 0 && (r.outcome === "completed" || r.seqs.count > 1)) exceptions.push("notApproved");
  // People are their principal ids (the two-person rule counts principals, not names): two people may share a display name and one person
  // may change theirs. Names decide only for entries written before ids were recorded.
  const byIds = r.requestedById !== undefined && r.approvals.every((a) => a.byId !== undefined);
  if (r.approvals.some((a) => (byIds ? a.byId === r.requestedById : a.by === r.requestedBy))) exceptions.push("selfApproved");
  const first = r.approvals[0];
  const out: EmergencyRecord = {
    keyId: r.keyId, rotationId: r.rotationId, requestedBy: r.requestedBy, ...(r.requestedById !== undefined ? { requestedById: r.requestedById } : {}),
    requestedAt: r.requestedAt, approvals: r.approvals, outcome: r.outcome, revokedVersions: r.revokedVersions, exceptions,
    identity: byIds || r.approvals.length === 0 ? "principalId" : "displayName",
  };
  if (r.reason !== undefined) out.reason = r.reason;
  if (first) out.minutesToApproval = Math.round((Date.parse(first.at) - Date.parse(r.requestedAt)) / 60_000);
  return out;
}

const count = <K extends string>(xs: K[]) => xs.reduce<Partial<Record<K, number>>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});

/** One key's part of a pack: what the ledger says about it, judged as of `asOf`. Pages of an export
 * (lib/api/evidenceExport.ts) compute these a few keys at a time and keep them in storage. */
export interface KeySection {
  keyId: string;
  compliance: KeyCompliance;
  rotations: RotationRecord[];
  failures: FailureRecord[];
  withoutPolicy: boolean;
}

/** A key's section: its chain up to asOf (history before the period sets the baseline). */
export async function keySection(ledger: EvidenceInput["ledger"], key: EvidenceKey, policy: EvidencePolicy | undefined, period: EvidencePeriod, asOf: Date): Promise<KeySection> {
  const history = await historyOf(ledger, key.keyId, asOf.toISOString());
  const rotations: RotationRecord[] = [];
  const failures: FailureRecord[] = [];
  history.rotations.forEach((acc, i) => {
    if (!touchesPeriod(acc.rec, period)) return;
    rotations.push(acc.rec);
    if (acc.failure) failures.push({ keyId: key.keyId, rotationId: acc.rec.rotationId, ...(acc.rec.trigger ? { trigger: acc.rec.trigger } : {}), failedAt: acc.failure.at, error: acc.failure.error, ...resolve(acc, history.rotations.slice(i + 1)) });
  });
  return { keyId: key.keyId, compliance: complianceOf(key, policy, history, period, asOf), rotations, failures, withoutPolicy: !policy };
}

/** The seals made in the period, and the latest seal if it is later. */
export async function periodSeals(ledger: Pick<EvidenceInput["ledger"], "seals">, period: EvidencePeriod): Promise<LedgerSeal[]> {
  const seals: LedgerSeal[] = [];
  let latest: LedgerSeal | undefined;
  for await (const s of ledger.seals()) {
    if (s.at >= period.from && s.at < period.to) seals.push(s);
    latest = s;
  }
  if (latest && !seals.includes(latest) && latest.at >= period.to) seals.push(latest);
  return seals;
}

/** The moment compliance is judged at: the period's end, or now if that is earlier. */
export function evidenceAsOf(period: EvidencePeriod, now: Date): Date {
  checkPeriod(period);
  return new Date(Math.min(now.getTime(), Date.parse(period.to)));
}

export interface EvidenceParts {
  period: EvidencePeriod;
  /** Generation time (the first page's, for a paged export). */
  now: Date;
  retention?: string;
  policies: EvidencePolicy[];
  /** One per inventory key, in any order. */
  sections: KeySection[];
  keysNotInInventory: string[];
  verification: LedgerVerification;
  seals: LedgerSeal[];
}

/** The pack from its parts: every section, then what is judged over all of them (exceptions,
 * emergencies, controls, the summary). */
export function assembleEvidencePack(parts: EvidenceParts): EvidencePack {
  const { period, now } = parts;
  const asOfIso = evidenceAsOf(period, now).toISOString();
  const sections = [...parts.sections].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  const compliance = sections.map((k) => k.compliance);
  const rotations = sections.flatMap((k) => k.rotations);
  const failures = sections.flatMap((k) => k.failures);
  const keysWithoutPolicy = sections.filter((k) => k.withoutPolicy).map((k) => k.keyId);
  rotations.sort((a, b) => (a.requestedAt < b.requestedAt ? -1 : a.requestedAt > b.requestedAt ? 1 : 0));
  const emergencies = rotations.filter((r) => r.trigger === "emergency").map(emergencyOf);
  const exceptions = exceptionsOf(compliance);

  const summary: EvidenceSummary = {
    keys: sections.length,
    keysWithPolicy: sections.length - keysWithoutPolicy.length,
    // Compliant now and never late in the period: a late rotation is not compliance.
    compliant: compliance.filter((c) => c.status === "compliant" && c.lateInPeriod.length === 0).length,
    overdue: compliance.filter((c) => c.status === "overdue").length,
    cryptoperiodExceptions: exceptions.length,
    rotations: rotations.length,
    rollbacks: rotations.filter((r) => r.kind === "rollback").length,
    byTrigger: count(rotations.map((r) => r.trigger ?? "unknown")),
    byOutcome: count(rotations.map((r) => r.outcome)),
    emergencies: emergencies.length,
    failures: failures.length,
    unresolvedFailures: failures.filter((f) => f.resolution === "unresolved").length,
  };
  const pack: EvidencePack = {
    format: "keyrotor-evidence/1", period, generatedAt: now.toISOString(), asOf: asOfIso, summary, compliance, exceptions, rotations, emergencies, failures,
    keysWithoutPolicy, keysNotInInventory: [...parts.keysNotInInventory].sort(), controls: [], unknownTags: unknownTags(parts.policies), verification: parts.verification, seals: parts.seals,
  };
  if (parts.retention !== undefined) pack.retention = parts.retention;
  pack.controls = controlsFor(pack, parts.policies);
  return pack;
}

/** The whole pack in one call (the CLI's --storage path; the API pages it, lib/api/evidenceExport.ts). */
export async function buildEvidencePack(input: EvidenceInput): Promise<EvidencePack> {
  const { period, ledger } = input;
  const now = input.now ?? new Date();
  const asOf = evidenceAsOf(period, now);
  const policies = new Map(input.policies.map((p) => [p.policyId, p]));
  const sections: KeySection[] = [];
  for (const key of input.keys) sections.push(await keySection(ledger, key, key.policyId !== undefined ? policies.get(key.policyId) : undefined, period, asOf));
  const inventory = new Set(input.keys.map((k) => k.keyId));
  const keysNotInInventory: string[] = [];
  if (ledger.chainIds) for await (const k of ledger.chainIds()) if (!inventory.has(k)) keysNotInInventory.push(k);
  const verification = await ledger.verify();
  return assembleEvidencePack({
    period, now, ...(input.retention !== undefined ? { retention: input.retention } : {}), policies: input.policies, sections, keysNotInInventory, verification,
    seals: await periodSeals(ledger, period),
  });
}

export { writeEvidencePack, evidenceCsv, evidenceMarkdown, signedEvidenceManifest } from "./evidenceFormat";
