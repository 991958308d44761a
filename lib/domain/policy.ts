// Rotation policies are data: this module owns their shape, their defaults and every rule that
// makes one acceptable. validatePolicy() is the only way in; each refusal is an
// InvalidRequestError("PolicyInvalid") naming the offending field as a dotted path.
import { z } from "zod";
import { InvalidRequestError } from "./errors";
import { KEY_KINDS, type KeyKind } from "./keys";
import { durationMs } from "./rotation";
import { secretProviderSchema } from "./secretProviders";
import {
  DAY, HOUR, PRESET_CRON, SCHEDULE_PRESETS, cronGaps, cronTimeline, durationBounds, longestWindowWait, mergeFreezes,
  parseDuration, parseInstant, type CompiledFreeze, type CompiledWindow, type CronTimeline, type Dur,
} from "./schedule";

export const DEFAULT_WARN_BEFORE = ["P30D", "P7D", "P1D"] as const;
export const POLICY_STATUSES = ["active", "suspended"] as const;
export type PolicyStatus = (typeof POLICY_STATUSES)[number];

/** Shortest allowed interval between scheduled rotations, per kind (a secret may rotate hourly;
 * cryptographic keys at most daily, since each rotation means a vault CREATE and a rewrap). */
export const MIN_INTERVAL_MS: Record<KeyKind, number> = { kek: DAY, dek: DAY, signing: DAY, secret: HOUR };

/** Shortest dual-running time per kind (docs/policies.md "Floors"). A signing key's old version
 * (retired after retainFor) and a secret's old value or provider credential (retired after overlap)
 * are disabled by the timer with no reference count: nothing proves that no token in flight, JWKS
 * cache or consumer still holding the old secret needs them. Without a floor, one Admin setting
 * PT0S would make the timer disable them right after the next rotation: one person invalidating a
 * version, which the two-person rule forbids. A day covers the usual token lifetimes (an hour
 * to a day), a daily JWKS or secret-cache refresh and a consumer restart. KEK versions retire only
 * after a zero-reference count under the key's lock, and DEK versions are never retired by the
 * timer, so their overlap may be shorter. Shorter values have no production use and no second
 * person to ask: they are refused, not approved (tests use a fake clock instead). */
export const MIN_OVERLAP_MS: Record<KeyKind, number> = { kek: 0, dek: 0, signing: DAY, secret: DAY };

/** The dual-running times the workflows honour for a key of `kind`: a policy stored before the
 * floors existed keeps its short overlap/retainFor on record, yet no old version is retired (or its
 * provider slot reused) sooner than MIN_OVERLAP_MS allows. */
export function dualRunningMs(policy: Pick<Policy, "overlap" | "retainFor">, kind: KeyKind): { overlapMs: number; retainForMs: number } {
  const floor = MIN_OVERLAP_MS[kind];
  return { overlapMs: Math.max(durationMs(policy.overlap), floor), retainForMs: Math.max(durationMs(policy.retainFor ?? KEEP_FOREVER), floor) };
}

/** branchKeys.every bounds: at least a day, at most five years (the plan's longest horizon). */
export const MIN_BRANCH_KEYS_EVERY_MS = DAY;
export const MAX_BRANCH_KEYS_EVERY_MS = 5 * 366 * DAY;

const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TENANT = /^[A-Za-z0-9-]{1,127}$/;

const duration = z.string().max(64);
const schedule = z.strictObject({
  every: duration.optional(),
  cron: z.string().max(200).optional(),
  preset: z.enum(SCHEDULE_PRESETS).optional(),
  /** IANA time zone of `cron` (required) or `preset` (default UTC). */
  timeZone: z.string().max(64).optional(),
});
const window = z.strictObject({ cron: z.string().max(200), timeZone: z.string().max(64), duration });
const freeze = z.strictObject({ from: z.string().max(64), to: z.string().max(64), reason: z.string().max(500).optional() });
const secretOptions = z.strictObject({
  /** Random bytes before encoding. */
  length: z.number().int().min(16).max(512).default(32),
  encoding: z.enum(["base64url", "base64", "hex"]).default("base64url"),
  /** The service that checks the credential, where it lives (./secretProviders.ts): a rotation
   * regenerates it there (dual-credential) instead of making a random value. */
  provider: secretProviderSchema.optional(),
});
/** A KEK's branch keys get new versions once their current version is `every` old (the timer starts
 * one branch-key rotation of the KEK for those due; the KEK itself keeps its own schedule). */
const branchKeys = z.strictObject({ every: duration });

/** A policy's secret options (random bytes and their encoding, or the provider that regenerates it). */
export type SecretOptions = z.output<typeof secretOptions>;
/** The secret of a secret policy that names none: 32 random bytes, base64url. */
export const DEFAULT_SECRET: SecretOptions = { length: 32, encoding: "base64url" };
/** retainFor absent = old versions kept forever: timers count that as 100 years. */
export const KEEP_FOREVER = "P36500D";

/** The policy shape (also the OpenAPI document's request and response schema of a policy). */
export const policySchema = z.strictObject({
  policyId: z.string().regex(POLICY_ID, "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
  tenant: z.string().regex(TENANT, "must be 1-127 letters, digits or '-'"),
  kinds: z.array(z.enum(KEY_KINDS)).min(1, "must name at least one key kind"),
  schedule,
  /** Safety window: rotate this long before the primary version expires, if that is earlier. */
  rotateBefore: duration.default("P7D"),
  /** Expiry set on each new version. */
  expiresAfter: duration,
  /** Dual-running time (old version secondary) before the old version is retired. */
  overlap: duration.default("P7D"),
  /** Revoke (disable at once) instead of retiring the old version after the overlap. */
  revokeOld: z.boolean().default(false),
  /** How long retired versions are kept; absent = forever (archive). */
  retainFor: duration.optional(),
  /** How long after promotion a rollback to the previous version is allowed (within the overlap). */
  rollbackWindow: duration.default("P1D"),
  maxAttempts: z.number().int().min(1).max(20).default(3),
  warnBefore: z.array(duration).max(10).default([...DEFAULT_WARN_BEFORE]),
  windows: z.array(window).max(20).default([]),
  freezes: z.array(freeze).max(100).default([]),
  complianceTags: z.array(z.string().min(1).max(64)).max(32).default([]),
  status: z.enum(POLICY_STATUSES).default("active"),
  secret: secretOptions.optional(),
  /** kind kek only: scheduled rotation of the KEK's branch keys (docs/key-hierarchy.md). */
  branchKeys: branchKeys.optional(),
  description: z.string().max(1000).optional(),
});

/** A validated policy, defaults filled in. Durations stay ISO-8601 strings (policies are data). */
export type Policy = z.output<typeof policySchema>;
/** What a caller may send: defaults may be left out. */
export type PolicyInput = z.input<typeof policySchema>;
export type PolicySchedule = Policy["schedule"];
export type MaintenanceWindow = Policy["windows"][number];
export type Freeze = Policy["freezes"][number];

/** A policy with its durations parsed and its cron patterns bound to shared timelines; what the
 * planner works with. */
export interface CompiledPolicy {
  policy: Policy;
  schedule: { type: "every"; every: Dur } | { type: "cron"; timeline: CronTimeline };
  rotateBefore: Dur;
  expiresAfter: Dur;
  overlap: Dur;
  rollbackWindow: Dur;
  retainFor?: Dur;
  warnBefore: Dur[];
  windows: CompiledWindow[];
  /** Merged and sorted. */
  freezes: CompiledFreeze[];
  /** branchKeys.every: how old a branch key's current version may get. */
  branchKeysEvery?: Dur;
}

function invalid(field: string, message: string, cause?: unknown): InvalidRequestError {
  return new InvalidRequestError("PolicyInvalid", `[keyrotor] [policy] ${field} ${message}`, { field, cause });
}

function zodField(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") path.push(issue.keys[0] ?? "");
  return path.join(".") || "policy";
}

/** Re-labels a parse error from schedule.ts as a policy refusal, keeping its field. */
function relabel<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InvalidRequestError && err.code !== "PolicyInvalid") throw invalid(err.field ?? "policy", err.message.replace(/^\S+ /, ""), err);
    throw err;
  }
}

/** Parses shape and defaults only: no cross-field rules. For rows read back from storage, which
 * were fully validated when written (re-checking time-dependent rules on read could make a stored
 * policy unreadable as time passes). */
export function parsePolicyShape(input: unknown): Policy {
  const parsed = policySchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = zodField(issue);
    const message = issue.code === "unrecognized_keys" ? "is not a policy field" : issue.message.replace(/^Invalid input: /, "");
    throw invalid(field, message);
  }
  return parsed.data;
}

const compiled = new WeakMap<Policy, CompiledPolicy>();

/** Parses durations, time zones and cron patterns (throwing PolicyInvalid naming the field), and
 * caches the result per policy object. Does not apply the cross-field rules. */
export function compilePolicy(policy: Policy, nowMs = Date.now()): CompiledPolicy {
  const hit = compiled.get(policy);
  if (hit) return hit;
  const c = relabel((): CompiledPolicy => {
    const s = policy.schedule;
    const set = [s.every, s.cron, s.preset].filter((x) => x !== undefined).length;
    if (set !== 1) throw invalid("schedule", "must have exactly one of every, cron or preset");
    if (s.every !== undefined && s.timeZone !== undefined) throw invalid("schedule.timeZone", "applies to cron and preset schedules only; every is counted in UTC");
    if (s.cron !== undefined && s.timeZone === undefined) throw invalid("schedule.timeZone", "is required with a cron schedule (an IANA time zone such as Europe/London)");
    const sched: CompiledPolicy["schedule"] =
      s.every !== undefined
        ? { type: "every", every: parseDuration(s.every, "schedule.every") }
        : s.cron !== undefined
          ? { type: "cron", timeline: cronTimeline(s.cron, s.timeZone!, "schedule.cron", nowMs) }
          : { type: "cron", timeline: cronTimeline(PRESET_CRON[s.preset!], s.timeZone ?? "UTC", "schedule.preset", nowMs) };
    return {
      policy,
      schedule: sched,
      rotateBefore: parseDuration(policy.rotateBefore, "rotateBefore"),
      expiresAfter: parseDuration(policy.expiresAfter, "expiresAfter"),
      overlap: parseDuration(policy.overlap, "overlap"),
      rollbackWindow: parseDuration(policy.rollbackWindow, "rollbackWindow"),
      ...(policy.retainFor !== undefined ? { retainFor: parseDuration(policy.retainFor, "retainFor") } : {}),
      ...(policy.branchKeys !== undefined ? { branchKeysEvery: parseDuration(policy.branchKeys.every, "branchKeys.every") } : {}),
      warnBefore: policy.warnBefore.map((w, i) => parseDuration(w, `warnBefore.${i}`)),
      windows: policy.windows.map((w, i) => {
        const d = parseDuration(w.duration, `windows.${i}.duration`);
        if (durationBounds(d).minMs <= 0) throw invalid(`windows.${i}.duration`, "must be longer than zero");
        return { timeline: cronTimeline(w.cron, w.timeZone, `windows.${i}.cron`, nowMs), durationMs: durationBounds(d).minMs };
      }),
      freezes: mergeFreezes(
        policy.freezes.map((f, i) => {
          const fromMs = parseInstant(f.from, `freezes.${i}.from`);
          const toMs = parseInstant(f.to, `freezes.${i}.to`, { endOfDate: true });
          if (toMs <= fromMs) throw invalid(`freezes.${i}.to`, "must be after from");
          return { fromMs, toMs, ...(f.reason !== undefined ? { reason: f.reason } : {}) };
        }),
      ),
    };
  });
  compiled.set(policy, c);
  return c;
}

/** The shortest and longest gap between scheduled slots (worst cases over calendar lengths, DST
 * and a two-year sample of cron slots). Undefined when a cron schedule (almost) never fires. */
function intervalBounds(c: CompiledPolicy, nowMs: number): { minMs: number; maxMs: number } | undefined {
  return c.schedule.type === "every" ? durationBounds(c.schedule.every) : cronGaps(c.schedule.timeline, nowMs);
}

function scheduleField(p: Policy): string {
  return p.schedule.every !== undefined ? "schedule.every" : p.schedule.cron !== undefined ? "schedule.cron" : "schedule.preset";
}

/** Validates anything (a request body, a seed file) into a Policy with defaults, or throws
 * InvalidRequestError("PolicyInvalid") naming the first offending field. `now` anchors the
 * sampling of cron and window occurrences (defaults to the current time). */
export function validatePolicy(input: unknown, opts: { now?: Date } = {}): Policy {
  const nowMs = (opts.now ?? new Date()).getTime();
  const policy = parsePolicyShape(input);
  const c = compilePolicy(policy, nowMs);

  if (new Set(policy.kinds).size !== policy.kinds.length) throw invalid("kinds", "lists a kind twice");
  if (policy.secret && !policy.kinds.includes("secret")) throw invalid("secret", "applies only to policies for kind secret");
  if (policy.branchKeys && !policy.kinds.includes("kek")) throw invalid("branchKeys", "applies only to policies for kind kek (branch keys belong to a KEK)");
  if (c.branchKeysEvery) {
    const b = durationBounds(c.branchKeysEvery);
    // Each branch-key rotation costs a remote unwrap and sign per branch key and a re-wrap of its DEKs.
    if (b.minMs < MIN_BRANCH_KEYS_EVERY_MS) throw invalid("branchKeys.every", "must be at least P1D");
    if (b.maxMs > MAX_BRANCH_KEYS_EVERY_MS) throw invalid("branchKeys.every", "must be at most P5Y (the plan's longest horizon, so the next one can always be seen coming)");
  }

  const field = scheduleField(policy);
  const interval = intervalBounds(c, nowMs);
  if (!interval) throw invalid(field, "fires less than twice in ten years; a policy must keep firing");
  // A cron slot at a fixed wall-clock time is up to an hour closer to the previous one across a
  // DST change; that must not make a daily schedule "shorter than a day".
  const minimum = Math.max(...policy.kinds.map((k) => MIN_INTERVAL_MS[k]));
  const tolerance = c.schedule.type === "cron" && minimum >= DAY ? HOUR : 0;
  if (interval.minMs < minimum - tolerance) {
    const kinds = policy.kinds.filter((k) => MIN_INTERVAL_MS[k] === minimum).join(", ");
    throw invalid(field, `rotates more often than every ${minimum >= DAY ? "day" : "hour"}, the minimum for ${kinds}`);
  }

  const expires = durationBounds(c.expiresAfter);
  const rotateBefore = durationBounds(c.rotateBefore);
  const overlap = durationBounds(c.overlap);
  const rollback = durationBounds(c.rollbackWindow);
  if (rotateBefore.maxMs >= expires.minMs) throw invalid("rotateBefore", `must be shorter than expiresAfter (${policy.expiresAfter})`);
  if (expires.minMs <= interval.maxMs + rotateBefore.maxMs) {
    throw invalid("expiresAfter", `must be longer than the schedule's interval plus rotateBefore (${policy.rotateBefore}), or versions expire before their successor exists`);
  }
  if (overlap.maxMs >= expires.minMs) throw invalid("overlap", `must be shorter than expiresAfter (${policy.expiresAfter}), or the old version expires while still in use`);
  if (rollback.maxMs > overlap.minMs) throw invalid("rollbackWindow", `must not be longer than overlap (${policy.overlap}): a rollback needs the old version still secondary`);
  const minOverlap = Math.max(...policy.kinds.map((k) => MIN_OVERLAP_MS[k]));
  if (overlap.minMs < minOverlap) {
    const kinds = policy.kinds.filter((k) => MIN_OVERLAP_MS[k] === minOverlap).join(", ");
    throw invalid("overlap", `must be at least P1D for ${kinds}: the timer then disables the old version with no count proving it unused (tokens in flight, consumers still holding the old secret)`);
  }
  if (c.retainFor) {
    const retain = durationBounds(c.retainFor);
    // Signing keys retire after retainFor (verifiers keep the old version that long): shorter than
    // the overlap would retire the old version while the policy still calls it dual-running.
    if (retain.minMs < overlap.maxMs) throw invalid("retainFor", `must not be shorter than overlap (${policy.overlap}): old versions are kept at least as long as they run alongside the new one`);
  }
  const seen = new Set<number>();
  c.warnBefore.forEach((w, i) => {
    const b = durationBounds(w);
    if (b.minMs <= 0) throw invalid(`warnBefore.${i}`, "must be longer than zero");
    if (b.maxMs >= expires.minMs) throw invalid(`warnBefore.${i}`, `must be shorter than expiresAfter (${policy.expiresAfter})`);
    if (seen.has(b.minMs)) throw invalid(`warnBefore.${i}`, "repeats a threshold");
    seen.add(b.minMs);
  });

  if (c.windows.length > 0) {
    const wait = longestWindowWait(c.windows, nowMs, interval.maxMs);
    if (wait > interval.maxMs) {
      throw invalid("windows", `can leave more than one schedule interval without opening (longest wait ${wait === Infinity ? "forever" : `${Math.round(wait / HOUR)} h`}); a policy must never silently stop firing`);
    }
  }
  return policy;
}

/** Policies are tenant-scoped: (tenant, policyId) identifies one. */
export function policyKey(tenant: string, policyId: string): string {
  return `${tenant}/${policyId}`;
}
