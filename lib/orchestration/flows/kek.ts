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
import { validate } from "./validate";

const A = DURABLE.activities;

export interface RefCounts {
  byVersion: Record<string, number>;
  /** DEKs under any version but the one kept. */
  other: number;
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
  return { byVersion: leg.byVersion, other: leg.other };
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
  const out = yield* rollOut(f, kc, {
    create: A.createKeyVersion, details: (c) => ({ reused: c.reused ?? false }),
    // A probe wrapped locally (the rewrap's path) must unwrap in the vault before anything uses it.
    *validate(fl, version) { yield* validate(fl, "kekRoundTrip", version); },
  });
  const newVersion = out.created.version;
  f.total = (yield* countRefs(f, newVersion)).other;
  setPhase(f, "rewrapping", { rewrapped: 0, scanned: 0 });
  let totals = zeroTotals();
  let refs: RefCounts = { other: 0, byVersion: {} };
  // Two passes at most: the second catches DEKs that changed (412) or arrived during the first.
  for (let pass = 1; pass <= 2; pass++) {
    totals = addTotals(totals, yield* rewrapPass(f, newVersion, pass, pass === 1 ? f.total : refs.other));
    refs = yield* countRefs(f, newVersion);
    if (refs.other === 0) break;
  }
  // From the count just taken, not the ranges' sums: true after a crash lost a range's result.
  const counts = countsAfterRewrap(totals, f.total ?? 0, refs.other);
  const revoke = revokes(f, kc);
  const target = revokeTarget(f, out.versionBefore);
  if (target === newVersion) throw flowError("invariantViolation", "RevokeNewPrimary", `the version to revoke, ${target}, is the one this rotation just promoted`);
  const targetRefs = target ? (refs.byVersion[target] ?? 0) : 0;
  if (refs.other > 0) {
    const decision = revokeDecision(targetRefs, input.dataLossAcceptedBy);
    if (!(revoke && decision.revoke && target)) {
      throw flowError("invariantViolation", "ReferencesRemain", `${refs.other} DEKs still reference old versions of ${input.keyId}; nothing was disabled`);
    }
  }
  // DEKs of every tenant partition unwrap under the new version before anything is revoked.
  yield* validate(f, "kekRewrapSample", newVersion);
  setPhase(f, "rewrapped");
  yield* rec(f, "rewrapped", "RewrapCompleted", undefined, { counts, versionAfter: newVersion });
  if (revoke && target) yield* revokeVersion(f, target, targetRefs);
  return { ...rolledOut(out), counts };
}
