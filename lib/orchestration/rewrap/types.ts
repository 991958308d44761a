// The rewrap's durable surface: inputs, results and carried state. Everything here crosses
// orchestration history, so it holds ids, continuations and counts only — never key material.
import { z } from "zod";

const id = z.string().min(1).max(512);

/** A lock grant (lib/orchestration/fence.ts): the owner and its fencing token. */
export const FenceSchema = z.object({ owner: id, token: z.number().int().positive() });

/** Where one tenant's rewrap stands: the partition plus the scan continuation to resume from. */
export const CursorSchema = z.object({
  tenant: z.string().min(1),
  continuation: z.string().optional(),
  /** Failed attempts of this tenant's current range (transient errors), for the retry limit. */
  attempts: z.number().int().min(0).optional(),
});
export type Cursor = z.infer<typeof CursorSchema>;

export const TotalsSchema = z.object({
  scanned: z.number(),
  rewrapped: z.number(),
  skipped: z.number(),
  conflicts: z.number(),
  unreadable: z.number(),
  /** DEKs whose row did not authenticate (lib/envelope/flatDekAuth.ts: FlatDekUnsigned,
   * FlatDekSignatureInvalid, FlatDekSignerMissing, FlatDekCommitmentMismatch): never re-wrapped, left
   * under their old KEK version (which therefore stays referenced), quarantined for a person to look
   * at. Defaults to 0 for totals carried from before the field existed. */
  refused: z.number().default(0),
  /** Remote unwrap calls made (429-answered ones included). */
  unwrapCalls: z.number(),
  /** 429 answers met (each one backed off and retried within its activity). */
  throttled: z.number(),
  /** Range activities run. */
  ranges: z.number(),
});
export type RewrapTotals = z.infer<typeof TotalsSchema>;

export const zeroTotals = (): RewrapTotals => ({ scanned: 0, rewrapped: 0, skipped: 0, conflicts: 0, unreadable: 0, refused: 0, unwrapCalls: 0, throttled: 0, ranges: 0 });
export function addTotals(a: RewrapTotals, b: Partial<RewrapTotals>): RewrapTotals {
  // Over the fields of zeroTotals: totals carried in state from an older build may lack a newer field.
  const out: RewrapTotals = { ...zeroTotals(), ...a };
  for (const k of Object.keys(out) as (keyof RewrapTotals)[]) out[k] += b[k] ?? 0;
  return out;
}

/** A rotation's rewrap counts once the passes are over. */
export type RewrapCounts = RewrapTotals & {
  /** DEKs of `total` now under the new version, whoever wrote them. */
  rewrapped: number;
  /** What the range activities reported writing themselves (the results that reached history). */
  rewrappedNow: number;
  /** Found under the new version without a counted write: written by a range whose result a crash
   * lost (its re-run skips them), or by a writer outside the rotation. rewrapped = rewrappedNow + alreadyCurrent. */
  alreadyCurrent: number;
  /** DEKs that referenced older versions when the rewrap began. */
  total: number;
  /** DEKs still under older versions after the last pass. */
  remainingOld: number;
};

/** The final counts from the reference count taken after the last pass, not from the ranges' own
 * sums: a range whose result is lost (crash after its writes) is re-run, finds its DEKs already
 * under the new version and cannot count them, and a resumed page re-reads rows it wrote — the
 * ranges' sum can be short or long, the count cannot. */
export function countsAfterRewrap(totals: RewrapTotals, total: number, remainingOld: number): RewrapCounts {
  const moved = Math.max(0, total - remainingOld);
  const rewrapped = Math.max(totals.rewrapped, moved);
  return {
    ...totals, rewrapped, rewrappedNow: totals.rewrapped, alreadyCurrent: rewrapped - totals.rewrapped,
    total: Math.max(total, rewrapped), remainingOld,
  };
}

/** Tuning of one rewrap; every field has a default fit for Key Vault + Table Storage. */
export const RewrapOptionsSchema = z.object({
  /** Most range activities in flight (the AIMD ceiling); the vault budget is split in this many
   * permits. Named maxSlots because rewrap options are persisted in orchestration history (and set
   * by benches and callers): a rename would break running rewraps. */
  maxSlots: z.number().int().min(1).max(64).default(8),
  /** Most DEKs one range activity handles (~500–1,000: one tenant partition page + continuation). */
  dekBatch: z.number().int().min(1).max(1000).default(1000),
  /** Wall-clock time slice of a range activity: it paces its share for this long, then returns its
   * continuation. Activities of one wave share the slice, so they end together. */
  sliceMs: z.number().int().min(100).max(60_000).default(5000),
  /** Range activities per orchestration execution before continueAsNew (bounded history). */
  rangesPerEpisode: z.number().int().min(1).max(500).default(64),
  /** Tenants handed to one range activity at most (it moves on when a partition runs out). */
  tenantsPerRange: z.number().int().min(1).max(100).default(8),
  /** Tenants read from the index per page (the only tenant list held, carried in the state). */
  tenantPage: z.number().int().min(1).max(1000).default(200),
  /** The parent wakes (custom status, ledger, lease) after every 1/targetLegs of the DEKs, so its
   * history does not grow with their number... */
  targetLegs: z.number().int().min(1).max(1000).default(6),
  /** ...but not for fewer DEKs than this (a small rewrap needs no legs)... */
  minLegDeks: z.number().int().min(1).default(1000),
  /** ...and at least every maxLegMs (the lease must be renewed; progress must show). */
  maxLegMs: z.number().int().min(1000).default(120_000),
  /** A RewrapProgress ledger entry every this many legs (and at the end of the pass). */
  ledgerEveryLegs: z.number().int().min(1).default(1),
  /** Transient failures of one tenant's range before the rewrap fails. */
  maxAttempts: z.number().int().min(1).default(5),
});
export type RewrapOptions = z.output<typeof RewrapOptionsSchema>;
export type RewrapOptionsInput = z.input<typeof RewrapOptionsSchema>;

/** The AIMD controller's state between executions. */
export const AimdStateSchema = z.object({ level: z.number().min(1) });

export const RewrapStateSchema = z.object({
  /** Tenants to do (or to continue), in order; never more than a tenant page plus the ones in flight. */
  queue: z.array(CursorSchema),
  /** Continuation into the tenants index; absent with `tenantsDone` false = from the start. */
  tenantsContinuation: z.string().optional(),
  tenantsDone: z.boolean(),
  totals: TotalsSchema,
  aimd: AimdStateSchema,
  /** The last wave (diagnostics): `slots` = permits it ran (the name is persisted in history). */
  lastWave: z.object({ slots: z.number(), sharePerSec: z.number(), throttled: z.number() }).optional(),
});
export type RewrapState = z.infer<typeof RewrapStateSchema>;

/** Input of one rewrap orchestration execution ("leg" = one or more executions chained by continueAsNew). */
export const RewrapLegSchema = z.object({
  rotationId: id,
  kekKeyId: id,
  newVersion: z.string().min(1),
  /** Unwraps per second this rewrap may spend on the vault; 0 = unpaced (no known limit). */
  budgetPerSec: z.number().min(0),
  options: RewrapOptionsSchema,
  state: RewrapStateSchema,
  /** The leg returns to the parent after the first wave that ends past this instant... */
  legEndsAt: z.string(),
  /** ...or that brings the rewrapped total to this many. */
  legUntilRewrapped: z.number().int().min(0),
  /** The rotation's lock grant, carried by every range activity (which checks it before writing). */
  fence: FenceSchema.optional(),
});
export type RewrapLegInput = z.infer<typeof RewrapLegSchema>;
export interface RewrapLegOutput {
  state: RewrapState;
  done: boolean;
}

// ---- the activity's three operations ----------------------------------------------------------

export const PlanOpSchema = z.object({
  op: z.literal("plan"),
  kekKeyId: id,
  newVersion: z.string().min(1),
  /** Already counted by the caller: skip the count. */
  total: z.number().int().min(0).optional(),
});
export const TenantsOpSchema = z.object({
  op: z.literal("tenants"),
  continuation: z.string().optional(),
  limit: z.number().int().min(1).max(1000),
});
export const RangeOpSchema = z.object({
  op: z.literal("range"),
  rotationId: id,
  kekKeyId: id,
  newVersion: z.string().min(1),
  cursors: z.array(CursorSchema).min(1),
  /** This activity's share of the vault budget (unwraps/s); 0 = unpaced. */
  sharePerSec: z.number().min(0),
  sliceMs: z.number().int().min(1),
  maxDeks: z.number().int().min(1).max(1000),
  /** The lock grant this range writes under (checked before it runs and before each batch it commits). */
  fence: FenceSchema.optional(),
});
/** One activity name (rewrapRange) carries the three steps, so the durable surface of the rewrap
 * stays one orchestrator and one activity. A bare range input (no `op`) is read as "range". */
export const RewrapRangeInput = z.preprocess(
  (raw) => (raw && typeof raw === "object" && !("op" in raw) ? { ...raw, op: "range" } : raw),
  z.discriminatedUnion("op", [PlanOpSchema, TenantsOpSchema, RangeOpSchema]),
);
export type RewrapRangeRequest = z.output<typeof RewrapRangeInput>;
export type PlanOp = z.infer<typeof PlanOpSchema>;
export type TenantsOp = z.infer<typeof TenantsOpSchema>;
export type RangeOp = z.infer<typeof RangeOpSchema>;

export interface RewrapPlan {
  /** DEKs of the KEK not yet under the new version when the pass began. */
  total: number;
  /** Unwraps/s this rewrap may spend: fraction × the vault's limit for the key's shape; 0 = unpaced. */
  budgetPerSec: number;
  /** The limit it was derived from (transactions per 10 s); 0 = none known (unpaced). */
  limitPer10s: number;
  /** e.g. "RSA-2048 software". */
  keyShape: string;
  budgetFraction: number;
}

export interface TenantsPage {
  tenants: string[];
  continuation?: string;
}

export interface RangeResult extends Omit<RewrapTotals, "ranges"> {
  /** Tenants not finished (the current one with its continuation, then the untouched ones). */
  cursors: Cursor[];
  /** Tenants finished by this activity. */
  tenantsDone: number;
  missing: number;
  elapsedMs: number;
  /** A transient failure stopped the activity early; its cursors resume where it stopped. */
  failed?: { code: string; message: string };
}

export type RewrapRangeOutput = RewrapPlan | TenantsPage | RangeResult;

/** The progress the rotation shows as custom status (GET /api/rotations/{id}). */
export interface RewrapProgress {
  rewrapped: number;
  total: number;
  /** Average since the pass began. */
  perSec: number;
  /** 429 answers met so far. */
  throttled: number;
  /** ISO instant the pass should end at the current rate; absent until there is a rate. */
  eta?: string;
  scanned: number;
  /** While a leg runs: its instance id, whose custom status counts the pass after every wave. */
  leg?: string;
  /** When the pass started (ISO): the rate of a running leg is measured from here. */
  startedAt?: string;
}
