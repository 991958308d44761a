// The rotation planner: for every managed key, when is it due and why. Pure and deterministic —
// the same (now, keys, policies) always give the same answer, and the same key and due period always
// give the same rotationId, so a timer that fires twice or a host that restarts never starts two
// rotations (the orchestration starts an instance named by the rotationId, which it can do once).
//
// How a key's due time is found:
//  1. due period: the next scheduled instant after the key's anchor (lastRotatedAt, else the
//     primary version's createdAt). For `every` schedules period k is anchor + k × every; for cron
//     and presets it is the next cron occurrence. If periods passed while nobody looked, the due
//     period is the LATEST passed one — due now, once — and the reason is "overdue" when more than
//     one passed.
//  2. rotateBefore: if the primary's expiry minus rotateBefore comes before that period, that
//     instant is the due period instead (reason "rotateBefore"). A primary already expired is "overdue".
//  3. windows and freezes: a rotation may start only inside a maintenance window (when the policy
//     has any) and never inside a freeze; dueAt is the first instant >= the due period that allows
//     it (reasons "waitingForWindow" and "frozen"). The period, and so the rotationId, do not move.
// A KEK policy's branchKeys.every plans the KEK's branch-key rotation the same way (planBranchKeys):
// its due period is when the oldest primary branch key turns `every` old, held by windows and freezes.
// "slot" in this code means a credential slot only; the due period keeps the name `slot` where it
// is persisted or public: PlanItem.slot and DueRotation.slot (the API's plan answers) and the
// rotationIds built from it (durable instance ids and ledger entries already written).
import { rotationIds, type KeyKind, type KeyVersion, type ManagedKey } from "./keys";
import { compilePolicy, DEFAULT_WARN_BEFORE, policyKey, type CompiledPolicy, type Policy } from "./policy";
import { addDuration, freezeAt, iso, nextWindowTime, parseDuration, type Dur } from "./schedule";

export const PLAN_REASONS = ["schedule", "rotateBefore", "overdue", "noPolicy", "policySuspended", "frozen", "waitingForWindow"] as const;
export type PlanReason = (typeof PLAN_REASONS)[number];

/** The due period of a key that has no version and was never rotated: its first rotation creates
 * one. Its value "initial" is part of rotationIds already written, so it stays. */
export const INITIAL_PERIOD = "initial";

export interface ExpiryWarning {
  /** Stable per (key, version, threshold): emit each exactly once (e.g. as the ledger entryId). */
  warningId: string;
  version: string;
  /** The warnBefore duration this warning is for, e.g. "P7D". */
  threshold: string;
  /** When the warning is (or was) due: expiresAt − threshold. */
  at: string;
  expiresAt: string;
  /** at <= now: emit it now. Of the thresholds already passed for a version only the most urgent
   * is listed (after downtime one warning, not three). */
  due: boolean;
}

export interface PlanItem {
  keyId: string;
  kind: KeyKind;
  tenant: string;
  policyId?: string;
  reason: PlanReason;
  /** The instant a (non-emergency) rotation may start. While dueNow it is the due period's time (in the
   * past when the period passed); otherwise it is >= now, inside a window and outside freezes.
   * Absent for noPolicy and policySuspended, and when the schedule never fires again. */
  dueAt?: string;
  /** Start the rotation now: the due period has come and now is allowed (window open, no freeze). */
  dueNow: boolean;
  /** The due period, an ISO instant (or "initial"); stable until the key is rotated. Named `slot`
   * in the API's plan answers (a public field), so kept. */
  slot?: string;
  /** rotationIds.schedule(keyId, slot): the due period. */
  rotationId?: string;
  /** dueNow, or dueAt within the horizon. */
  withinHorizon: boolean;
  /** The end of the freeze that holds this rotation back (reason "frozen"). */
  frozenUntil?: string;
  /** The primary version's expiry. */
  expiresAt?: string;
  /** Why noPolicy / why no dueAt, for people. */
  detail?: string;
  /** Expiry warnings due now or within the horizon, oldest first. */
  warnings: ExpiryWarning[];
  /** With the listDue option: every rotation due within the horizon, in order, the first being
   * this item's own (slot, dueAt); later ones assume each rotation runs when due (its new version
   * then expires expiresAfter later). */
  due?: DueRotation[];
  /** More rotations fall within the horizon than MAX_DUE_LISTED. */
  dueTruncated?: boolean;
  /** A KEK whose policy has branchKeys.every: its next (or due) branch-key rotation. */
  branchKeys?: BranchKeysDue;
}

/** One primary branch-key version of a KEK, as old as its (signed) createdAt. */
export interface BranchKeyAge {
  branchId: string;
  version: number;
  createdAt: string;
}

/** A KEK's scheduled branch-key rotation: one rotation of the KEK for every primary branch key whose
 * version is (or by dueAt will be) `every` old. */
export interface BranchKeysDue {
  every: string;
  /** The due period: when the oldest primary version turns `every` old. Stable until that branch key
   * is rotated, so it names the rotation (`slot`, like the key's own). */
  slot: string;
  /** rotationIds.branchKeys(keyId, slot): two timer firings (or instances) start it once. */
  rotationId: string;
  /** When it may start: the due period, or later for a window or a freeze (like the key's own). */
  dueAt?: string;
  dueNow: boolean;
  reason: "schedule" | "frozen" | "waitingForWindow";
  frozenUntil?: string;
  withinHorizon: boolean;
  /** The branch keys it rotates (due now: those `every` old; else those due by dueAt), oldest
   * first, at most MAX_BRANCH_IDS_PER_ROTATION. */
  branchIds: string[];
  /** How many are due in all (more than branchIds holds: the rest go in the next rotation). */
  dueCount: number;
  detail?: string;
}

/** Branch ids one rotation input carries at most (the rotation input's own bound). */
export const MAX_BRANCH_IDS_PER_ROTATION = 1000;

/** One rotation the schedule will start within the horizon. */
export interface DueRotation {
  /** The due period (ISO instant, or "initial"); `slot` in the API's plan answers, so kept. */
  slot: string;
  /** When it may start (the due period, or later for a window or a freeze). */
  dueAt: string;
  /** The next rotation's id only: a later one's due period depends on when the ones before it ran. */
  rotationId?: string;
}

/** At most this many due rotations are listed per key (an hourly secret over five years would be
 * 43,800); dueTruncated says when more fall within the horizon. */
export const MAX_DUE_LISTED = 500;

export type PolicySource = Iterable<Policy> | ReadonlyMap<string, Policy>;

function* policiesOf(source: PolicySource): Iterable<Policy> {
  yield* source instanceof Map ? (source as ReadonlyMap<string, Policy>).values() : (source as Iterable<Policy>);
}

function primaryOf(key: ManagedKey): KeyVersion | undefined {
  const byPointer = key.primaryVersion === undefined ? undefined : key.versions.find((v) => v.version === key.primaryVersion);
  return byPointer ?? key.versions.find((v) => v.state === "primary");
}

const defaultWarnBefore = DEFAULT_WARN_BEFORE.map((w) => parseDuration(w, "warnBefore"));

/** A planner bound to one instant, one set of policies and one horizon; plans keys one at a time,
 * so callers can stream the inventory page by page. */
export class Planner {
  readonly nowMs: number;
  readonly horizonEndMs: number;
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly listDue: boolean;

  /** `listDue`: fill PlanItem.due with every rotation within the horizon (the plan a person reads;
   * the timer only needs the next one). */
  constructor(now: Date, policies: PolicySource, horizon: string | Dur = "P90D", opts: { listDue?: boolean } = {}) {
    this.nowMs = now.getTime();
    this.listDue = opts.listDue ?? false;
    this.horizonEndMs = addDuration(this.nowMs, typeof horizon === "string" ? parseDuration(horizon, "horizon") : horizon);
    for (const p of policiesOf(policies)) this.policies.set(policyKey(p.tenant, p.policyId), compilePolicy(p, this.nowMs));
  }

  planKey(key: ManagedKey): PlanItem {
    // Hot path (100k keys per timer run): fields are assigned, not spread, to keep garbage low.
    const primary = primaryOf(key);
    const item: PlanItem = { keyId: key.keyId, kind: key.kind, tenant: key.tenant, reason: "noPolicy", dueNow: false, withinHorizon: false, warnings: [] };
    if (key.policyId !== undefined) item.policyId = key.policyId;
    let expiresMs: number | undefined;
    if (primary?.expiresAt !== undefined) {
      item.expiresAt = primary.expiresAt;
      expiresMs = Date.parse(primary.expiresAt);
    }
    const c = key.policyId === undefined ? undefined : this.policies.get(policyKey(key.tenant, key.policyId));
    item.warnings = this.warnings(key, c?.warnBefore ?? defaultWarnBefore);
    if (key.policyId === undefined) {
      item.detail = "no policy attached";
      return item;
    }
    if (!c) {
      item.detail = `policy "${key.policyId}" does not exist in tenant "${key.tenant}"`;
      return item;
    }
    if (!c.policy.kinds.includes(key.kind)) {
      item.detail = `policy "${key.policyId}" applies to ${c.policy.kinds.join(", ")}, not ${key.kind}`;
      return item;
    }
    if (c.policy.status === "suspended") {
      item.reason = "policySuspended";
      return item;
    }

    // 1. The due period.
    const anchorText = key.lastRotatedAt ?? primary?.createdAt;
    let periodMs: number | undefined;
    let reason: PlanReason = "schedule";
    if (anchorText === undefined) {
      reason = "overdue";
    } else {
      const found = this.duePeriod(c, Date.parse(anchorText));
      if (found === undefined) {
        item.reason = "schedule";
        item.detail = "the schedule never fires again";
      } else {
        periodMs = found.periodMs;
        if (found.missedMoreThanOne) reason = "overdue";
      }
    }
    // 2. The safety window before the primary's expiry.
    if (expiresMs !== undefined && anchorText !== undefined) {
      const beforeExpiry = addDuration(expiresMs, c.rotateBefore, -1);
      if (periodMs === undefined || beforeExpiry < periodMs) {
        periodMs = beforeExpiry;
        reason = "rotateBefore";
      }
      if (expiresMs <= this.nowMs) reason = "overdue";
    }
    if (periodMs === undefined && anchorText !== undefined) return item;

    const period = periodMs === undefined ? INITIAL_PERIOD : this.iso(periodMs);
    item.slot = period;
    item.rotationId = rotationIds.schedule(key.keyId, period);
    item.reason = reason;

    // 3. Windows and freezes.
    const at = this.placeInWindows(c, periodMs === undefined ? this.nowMs : periodMs, item);
    if (at !== undefined && this.listDue) this.fillDue(c, item, at);
    return item;
  }

  /** Where a rotation due at `from` lands once windows and freezes have their say: now, when it is
   * due and allowed now; else the first instant they allow, with why it waits. Sets that on `out`
   * and returns the instant it may run, undefined when no maintenance window opens again. */
  private placeInWindows(c: CompiledPolicy, from: number, out: Pick<PlanItem, "dueNow" | "withinHorizon" | "dueAt" | "frozenUntil" | "detail"> & { reason: PlanReason | BranchKeysDue["reason"] }): number | undefined {
    if (from <= this.nowMs && this.allowed(c, this.nowMs)) {
      out.dueNow = true;
      out.withinHorizon = true;
      out.dueAt = this.iso(from);
      return this.nowMs;
    }
    const held = this.firstAllowed(c, Math.max(from, this.nowMs));
    if (held.frozenUntil !== undefined) {
      out.reason = "frozen";
      out.frozenUntil = this.iso(held.frozenUntil);
    } else if (held.byWindow) out.reason = "waitingForWindow";
    if (held.at === undefined) {
      out.detail = "no maintenance window opens again";
      return undefined;
    }
    out.dueAt = this.iso(held.at);
    out.withinHorizon = held.at <= this.horizonEndMs;
    return held.at;
  }

  /** The KEK's scheduled branch-key rotation from its primary branch keys' ages, or undefined when
   * its policy (found, for kind kek, active) sets no branchKeys.every or it has no branch keys.
   * Windows and freezes hold it exactly as they hold the key's own rotation. */
  planBranchKeys(key: ManagedKey, primaries: readonly BranchKeyAge[]): BranchKeysDue | undefined {
    if (key.kind !== "kek" || key.policyId === undefined || primaries.length === 0) return undefined;
    const c = this.policies.get(policyKey(key.tenant, key.policyId));
    const every = c?.branchKeysEvery;
    if (!c || !every || !c.policy.kinds.includes("kek") || c.policy.status !== "active") return undefined;
    // A branch key's current version is its newest primary (an older one may linger as primary
    // for a moment during its own rotation): one age per branch key.
    const current = new Map<string, BranchKeyAge>();
    for (const b of primaries) if ((current.get(b.branchId)?.version ?? 0) < b.version) current.set(b.branchId, b);
    const dueTimes = [...current.values()]
      .map((b) => ({ branchId: b.branchId, at: addDuration(Date.parse(b.createdAt), every, 1) }))
      .filter((b) => !Number.isNaN(b.at))
      .sort((a, b) => a.at - b.at || (a.branchId < b.branchId ? -1 : a.branchId > b.branchId ? 1 : 0));
    const first = dueTimes[0];
    if (!first) return undefined;
    const slot = this.iso(first.at);
    const out: BranchKeysDue = {
      every: every.iso, slot, rotationId: rotationIds.branchKeys(key.keyId, slot), dueNow: false, reason: "schedule", withinHorizon: false, branchIds: [], dueCount: 0,
    };
    const by = this.placeInWindows(c, first.at, out) ?? first.at;
    const due = dueTimes.filter((b) => b.at <= by);
    out.dueCount = due.length;
    out.branchIds = due.slice(0, MAX_BRANCH_IDS_PER_ROTATION).map((b) => b.branchId);
    return out;
  }

  /** Lists the item's own rotation (starting at `ranAt`) and every later one within the horizon:
   * after a rotation at t the key's anchor is t and its new primary expires at t + expiresAfter,
   * so the next due period is the schedule's next after t, or rotateBefore ahead of that expiry if
   * sooner, moved on past closed windows and freezes like the first. */
  private fillDue(c: CompiledPolicy, item: PlanItem, ranAt: number): void {
    if (!item.withinHorizon || item.slot === undefined || item.dueAt === undefined) return;
    const due: DueRotation[] = [{ slot: item.slot, dueAt: item.dueAt, ...(item.rotationId !== undefined ? { rotationId: item.rotationId } : {}) }];
    let t = ranAt;
    for (;;) {
      const scheduled = c.schedule.type === "every" ? addDuration(t, c.schedule.every, 1) : c.schedule.timeline.nextAfter(t);
      const beforeExpiry = addDuration(addDuration(t, c.expiresAfter, 1), c.rotateBefore, -1);
      const period = scheduled === undefined || beforeExpiry < scheduled ? beforeExpiry : scheduled;
      // A period at or before the last run (a policy whose rotateBefore eats its whole expiry) would never advance.
      if (period <= t || period > this.horizonEndMs) break;
      const at = this.firstAllowed(c, period).at;
      if (at === undefined || at > this.horizonEndMs) break;
      if (due.length === MAX_DUE_LISTED) {
        item.dueTruncated = true;
        break;
      }
      due.push({ slot: this.iso(period), dueAt: this.iso(at) });
      t = at;
    }
    item.due = due;
  }

  /** Slots, window openings and freeze ends repeat across thousands of keys: format each once. */
  private readonly isoCache = new Map<number, string>();
  private iso(ms: number): string {
    let s = this.isoCache.get(ms);
    if (s === undefined) {
      if (this.isoCache.size > 50_000) this.isoCache.clear();
      s = iso(ms);
      this.isoCache.set(ms, s);
    }
    return s;
  }

  /** The due period after `anchorMs`: the next one, or the latest one already passed. */
  private duePeriod(c: CompiledPolicy, anchorMs: number): { periodMs: number; missedMoreThanOne: boolean } | undefined {
    const now = this.nowMs;
    if (c.schedule.type === "every") {
      const every = c.schedule.every;
      const first = addDuration(anchorMs, every, 1);
      if (first > now) return { periodMs: first, missedMoreThanOne: false };
      // Latest k with anchor + k × every <= now: estimate, then correct by whole steps.
      const approxMs = every.years * 365.2425 * 86_400_000 + every.months * 30.436875 * 86_400_000 + every.ms;
      let k = Math.max(1, Math.floor((now - anchorMs) / approxMs));
      while (k > 1 && addDuration(anchorMs, every, k) > now) k--;
      while (addDuration(anchorMs, every, k + 1) <= now) k++;
      return { periodMs: addDuration(anchorMs, every, k), missedMoreThanOne: k > 1 };
    }
    const tl = c.schedule.timeline;
    if (anchorMs < now) {
      const passed = tl.occurrencesBetween(anchorMs, now);
      if (passed.count > 0) return { periodMs: passed.latest!, missedMoreThanOne: passed.count > 1 };
    }
    const next = tl.nextAfter(Math.max(anchorMs, now));
    return next === undefined ? undefined : { periodMs: next, missedMoreThanOne: false };
  }

  private allowed(c: CompiledPolicy, t: number): boolean {
    if (freezeAt(c.freezes, t)) return false;
    return c.windows.length === 0 || nextWindowTime(c.windows, t) === t;
  }

  /** The first instant >= t inside a window (if any) and outside every freeze. */
  private firstAllowed(c: CompiledPolicy, t: number): { at?: number; frozenUntil?: number; byWindow: boolean } {
    let at = t;
    let frozenUntil: number | undefined;
    let byWindow = false;
    // Freezes are merged, so each pass leaves at least one behind: the loop ends.
    for (let i = 0; i <= c.freezes.length; i++) {
      if (c.windows.length > 0) {
        const open = nextWindowTime(c.windows, at);
        if (open === undefined) return { byWindow: true, ...(frozenUntil !== undefined ? { frozenUntil } : {}) };
        if (open > at) byWindow = true;
        at = open;
      }
      const f = freezeAt(c.freezes, at);
      if (!f) break;
      frozenUntil = f.toMs;
      at = f.toMs;
    }
    return { at, byWindow, ...(frozenUntil !== undefined ? { frozenUntil } : {}) };
  }

  private warnings(key: ManagedKey, thresholds: readonly Dur[]): ExpiryWarning[] {
    const out: ExpiryWarning[] = [];
    for (const v of key.versions) {
      if (v.expiresAt === undefined || (v.state !== "primary" && v.state !== "secondary")) continue;
      const exp = Date.parse(v.expiresAt);
      if (!(exp > this.nowMs)) continue;
      // Of the thresholds already passed only the most urgent (latest `at`) is listed.
      let passedAt = -Infinity;
      let passed: Dur | undefined;
      for (const th of thresholds) {
        const at = addDuration(exp, th, -1);
        if (at <= this.nowMs) {
          if (at > passedAt) {
            passedAt = at;
            passed = th;
          }
        } else if (at <= this.horizonEndMs) out.push(this.warning(key.keyId, v, th, at, false));
      }
      if (passed) out.push(this.warning(key.keyId, v, passed, passedAt, true));
    }
    return out.length > 1 ? out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)) : out;
  }

  private warning(keyId: string, v: KeyVersion, th: Dur, at: number, due: boolean): ExpiryWarning {
    return { warningId: `${keyId}@warn:${v.version}:${th.iso}`, version: v.version, threshold: th.iso, at: iso(at), expiresAt: v.expiresAt!, due };
  }
}

/** Plans every key: one PlanItem per key, in input order. `policies` are matched to keys by
 * (key.tenant, key.policyId) — a policy of another tenant never applies. `horizon` (default P90D)
 * bounds withinHorizon and the warnings listed. */
export function plan(now: Date, keys: Iterable<ManagedKey>, policies: PolicySource, horizon: string | Dur = "P90D", opts: { listDue?: boolean } = {}): PlanItem[] {
  const planner = new Planner(now, policies, horizon, opts);
  const out: PlanItem[] = [];
  for (const key of keys) out.push(planner.planKey(key));
  return out;
}
