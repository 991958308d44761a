// KEK rotation: roll out a new version, rewrap every DEK (or branch key) still under an older one,
// prove by count that none is left, then (emergency only) revoke the compromised version.
import type { Task } from "durable-functions";
import { durationMs, revokeDecision } from "../../domain/rotation";
import type { RotationContextView } from "../activities";
import { DURABLE } from "../names";
import { addTotals, countsAfterRewrap, rewrapAll, zeroTotals, type RewrapTotals } from "../rewrap";
import { grantOf, renewHeld } from "./act";
import { flowError, rec, setPhase, step, type Flow, type FlowResult } from "./frame";
import { rollOut, rolledOut } from "./promote";
import { revokes, revokeTarget, revokeVersion } from "./revoke";
import type { HierarchySlice } from "../../hierarchy/durableActivities";
import { validate } from "./validate";
import { branchKeyFlow, prefixed, RunCounts } from "./branchKeys";

const A = DURABLE.activities;

export interface RefCounts {
  /** References per KEK version: flat DEKs and branch-key records. */
  byVersion: Record<string, number>;
  /** References under any version but the one kept. */
  other: number;
  /** The branch-key records among them, per KEK version (present when the KEK has any). */
  branchKeys?: Record<string, number>;
}

/** The zero-reference count of the KEK `f` rotates, in legs (../dekCounts): each leg reads a bounded
 * number of rows and hands its cursor and running totals to the next, so no activity counts the
 * whole table. Only the last leg's totals are an answer. */
export function* countRefs(f: Flow, keepVersion: string): Generator<Task, RefCounts, unknown> {
  const base = { rotationId: f.input.rotationId, kekKeyId: f.input.keyId, keepVersion, paged: true };
  let leg: RefCounts & { cursor?: string } | undefined;
  do {
    const more = leg?.cursor ? { cursor: leg.cursor, partial: leg.byVersion } : {};
    leg = yield* step<RefCounts & { cursor?: string }>(f, A.countReferences, { ...base, ...more });
  } while (leg.cursor);
  return { byVersion: leg.byVersion, other: leg.other, ...(leg.branchKeys ? { branchKeys: leg.branchKeys } : {}) };
}

/** Branch-key records under any version but the one kept. */
const branchKeysLeft = (refs: RefCounts, keepVersion: string): number =>
  Object.entries(refs.branchKeys ?? {}).filter(([v]) => v !== keepVersion).reduce((s, [, n]) => s + n, 0);

/** After the emergency's replacement, a branch key still wrapped under the compromised version (made
 * under it after the run planned, e.g. by a tenant DEK rotation that checked the KEK's primary before
 * the promotion) must be replaced, never re-wrapped: a plain re-wrap keeps key material an attacker
 * holding the compromised version may have unwrapped, and would let the version be revoked as if
 * nothing referenced it. The flow stops loudly, nothing revoked; a new emergency replaces it. */
function assertNoneUnderCompromised(refs: RefCounts, compromised: string, keyId: string): void {
  const left = refs.branchKeys?.[compromised] ?? 0;
  if (left > 0) {
    throw flowError("invariantViolation", "BranchKeysUnderCompromisedVersion", `${left} branch keys of ${keyId} are still wrapped under the compromised version ${compromised} after the emergency replaced them; they must be replaced (run the emergency again), never re-wrapped; nothing was revoked`);
  }
}

const summed = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** Flat DEKs under any version but the one kept (what the flat rewrap has to do). */
const flatPending = (refs: RefCounts, keepVersion: string): number => refs.other - branchKeysLeft(refs, keepVersion);

/** One hierarchy workflow (../../hierarchy/durableActivities) to its end: the activity runs a
 * bounded slice and answers `more` until done; the checkpoint row, not history, holds where it
 * stands, so history grows by one call per slice (minutes each) whatever the number of DEKs. */
function* hierarchyRun(f: Flow, activity: string, input: Record<string, unknown>): Generator<Task, Record<string, number>, unknown> {
  for (;;) {
    const slice = yield* step<HierarchySlice>(f, activity, input);
    setPhase(f, "rewrapping", { rewrapped: slice.counts.dekRowsWritten ?? slice.counts.branchKeysRewrapped ?? 0, scanned: 0 });
    if (!slice.more) return slice.counts;
  }
}

/** The KEK's format-1 DEKs moved under branch keys, a page of tenants per activity call. */
function* migrated(f: Flow, newVersion: string): Generator<Task, Record<string, number>, unknown> {
  const i = f.input;
  // Each page is its own run; a page that takes several slices answers its running totals each time.
  const runs = new RunCounts();
  let cursor: string | undefined;
  for (;;) {
    const slice = yield* step<HierarchySlice & { cursor?: string }>(f, A.hierarchyMigration, {
      rotationId: i.rotationId, keyId: i.keyId, kekVersion: newVersion, actor: i.actor, ...(cursor ? { cursor } : {}),
    });
    runs.add(slice);
    setPhase(f, "rewrapping", { rewrapped: runs.total.dekRowsWritten ?? 0, scanned: 0 });
    if (!slice.more) break;
    // The next page of tenants (a page not finished would come back with the same cursor).
    cursor = slice.cursor ?? cursor;
  }
  const counts = runs.total;
  yield* rec(f, "flatMigrated", "RewrapProgress", undefined, { versionAfter: newVersion, counts, details: { hierarchy: "migration" } });
  return counts;
}

/** The KEK's branch keys after its new version is primary: re-wrapped under it (a rotation), or
 * replaced by new ones under it with every DEK moved (an emergency, whose compromised version is
 * the revoke target). DEK rows are untouched by a rotation. */
function* branchKeysUnder(f: Flow, newVersion: string, compromised: string | undefined): Generator<Task, Record<string, number>, unknown> {
  const i = f.input;
  const base = { rotationId: i.rotationId, keyId: i.keyId, newVersion, actor: i.actor };
  const counts = compromised
    ? yield* hierarchyRun(f, A.hierarchyEmergency, { ...base, compromisedVersion: compromised, ...(i.newDekVersions ? { newDekVersions: true } : {}) })
    : yield* hierarchyRun(f, A.hierarchyKekRotation, base);
  yield* rec(f, compromised ? "branchKeysReplaced" : "branchKeysRewrapped", "RewrapProgress", undefined, {
    versionAfter: newVersion, ...(compromised ? { versionBefore: compromised } : {}), counts, details: { hierarchy: compromised ? "emergency" : "kek-rotation" },
  });
  return counts;
}

/** One rewrap pass (../rewrap): progress as this rotation's custom status, RewrapProgress ledger
 * entries, and the lease renewed between legs. */
function* rewrapPass(f: Flow, newVersion: string, pass: number, pending: number | undefined): Generator<Task, RewrapTotals, unknown> {
  const { ctx, input } = f;
  const grant = grantOf(ctx);
  const r = yield* rewrapAll(ctx, {
    rotationId: input.rotationId, kekKeyId: input.keyId, newVersion, pass,
    ...(grant ? { fence: { owner: grant.owner, token: grant.token } } : {}),
    // The count just taken in legs (countRefs): the rewrap's plan never counts the whole table itself.
    ...(pending !== undefined ? { total: pending } : {}),
    options: { dekBatch: input.batchSize, rangesPerEpisode: input.batchesPerEpisode, maxAttempts: f.retry.maxAttempts },
  }, {
    progress: (p) => setPhase(f, "rewrapping", p),
    checkpoint: (name, counts) => rec(f, name, "RewrapProgress", "RewrapProgress", { counts }),
    renewLease: () => renewHeld(ctx, input.keyId, input.rotationId, durationMs(input.leaseDuration)),
  });
  const { total: _total, budgetPerSec: _budget, ...totals } = r;
  return totals;
}

export function* kekFlow(f: Flow, kc: RotationContextView): Generator<Task, FlowResult, unknown> {
  const { input } = f;
  // A branch-key rotation is one of its own: no new KEK version (./branchKeys).
  if (input.branchKeys !== undefined) return yield* branchKeyFlow(f, kc);
  const out = yield* rollOut(f, kc, {
    create: A.createKeyVersion, details: (c) => ({ reused: c.reused ?? false }),
    // A probe wrapped locally (the rewrap's path) must unwrap in the vault before anything uses it.
    *validate(fl, version) { yield* validate(fl, "kekRoundTrip", version); },
  });
  const newVersion = out.created.version;
  const revoke = revokes(f, kc);
  const target = revokeTarget(f, out.versionBefore);
  let refs = yield* countRefs(f, newVersion);
  let hierarchy: Record<string, number> | undefined;
  if (refs.branchKeys) {
    // Branch keys first (B remote unwraps, DEK rows untouched by a rotation); an emergency replaces
    // the ones under the compromised version, never wrapping anything new under it.
    const compromised = f.input.mode === "emergency" ? target : undefined;
    if (compromised === newVersion) throw flowError("invariantViolation", "RevokeNewPrimary", `the version to revoke, ${compromised}, is the one this rotation just promoted`);
    hierarchy = yield* branchKeysUnder(f, newVersion, compromised);
    refs = yield* countRefs(f, newVersion);
    if (compromised) assertNoneUnderCompromised(refs, compromised, f.input.keyId);
    // An emergency replaces the branch keys under the compromised version only; any still under an
    // older, uncompromised one (a KEK rotation that never finished) move under the new version too.
    if (compromised && branchKeysLeft(refs, newVersion) > 0) {
      hierarchy = summed(hierarchy, yield* branchKeysUnder(f, newVersion, undefined));
      refs = yield* countRefs(f, newVersion);
      assertNoneUnderCompromised(refs, compromised, f.input.keyId);
    }
  }
  if (f.input.migrateFlat && f.input.mode !== "emergency") {
    // The flat DEKs move under branch keys wrapped under the new version (one unwrap each, as a
    // flat rewrap would spend), instead of being re-wrapped flat.
    hierarchy = summed(hierarchy ?? {}, yield* migrated(f, newVersion));
    refs = yield* countRefs(f, newVersion);
  }
  f.total = flatPending(refs, newVersion);
  setPhase(f, "rewrapping", { rewrapped: 0, scanned: 0 });
  let totals = zeroTotals();
  // Two passes at most: the second catches DEKs that changed (412) or arrived during the first.
  // A KEK with branch keys and no flat DEK left needs no flat pass.
  for (let pass = 1; pass <= 2 && !(hierarchy && f.total === 0); pass++) {
    totals = addTotals(totals, yield* rewrapPass(f, newVersion, pass, pass === 1 ? f.total : flatPending(refs, newVersion)));
    refs = yield* countRefs(f, newVersion);
    if (refs.other === 0) break;
  }
  // From the count just taken, not the ranges' sums: true after a crash lost a range's result.
  const counts = { ...countsAfterRewrap(totals, f.total, flatPending(refs, newVersion)), ...prefixed(hierarchy) };
  if (target === newVersion) throw flowError("invariantViolation", "RevokeNewPrimary", `the version to revoke, ${target}, is the one this rotation just promoted`);
  const targetRefs = target ? (refs.byVersion[target] ?? 0) : 0;
  if (refs.other > 0) {
    const decision = revokeDecision(targetRefs, input.dataLossAcceptedBy);
    if (!(revoke && decision.revoke && target)) {
      throw flowError("invariantViolation", "ReferencesRemain", `${refs.other} DEKs or branch keys still reference old versions of ${input.keyId}; nothing was disabled`);
    }
  }
  // DEKs of every tenant partition unwrap under the new version before anything is revoked.
  yield* validate(f, "kekRewrapSample", newVersion);
  setPhase(f, "rewrapped");
  yield* rec(f, "rewrapped", "RewrapCompleted", undefined, { counts, versionAfter: newVersion });
  if (revoke && target) yield* revokeVersion(f, target, targetRefs);
  return { ...rolledOut(out), counts };
}
