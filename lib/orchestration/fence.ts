// Fencing: every mutating step checks its lock grant before it acts. The keyLock entity grants each lease a token that only grows, but
// activities cannot read an entity: so the orchestrator records each grant in the key's fence row
// (claimFence, right after the grant) and passes {owner, token} with every mutating activity, which
// checks it against the row before it acts (handlers.ts). A rotation whose lease ran out and was
// taken over finds a newer grant recorded there and stops with FencedOut, changing nothing.
// Before acquiring, the orchestrator reads the row's token (readFence) and the entity grants above
// it, so a lock entity that starts counting again (a new task hub) cannot reuse a token; a lock
// broken by hand records a grant above the old holder's (retireGrant).
//
// What this closes and what it cannot: a step that starts after the take-over's claim is refused.
// A step already past its check when the take-over happens still finishes (Key Vault has no
// conditional writes to fence a call in flight); the orchestrator renews the lease before every
// mutating step once a third of it has passed, so a step starts with at least two thirds of a lease
// left, far more than any one activity takes. The one long writer, a rewrap range, reads the row
// again before each batch it commits (rewrap/range.ts), so after a take-over it writes at most the
// batch already in flight.
import { z } from "zod";
import { InvariantViolationError, RotationConflictError } from "../domain/errors";
import { fenceAdmits, fenceClaim, type FenceRecord } from "../domain/rotation";
import type { FenceStore } from "../ports";
import { DURABLE } from "./names";

export type { FenceRecord };

const D = DURABLE.activities;
/** The activities that change a key, its versions, its DEKs or what verifiers see. Each carries
 * `fence: {owner, token}`, the lock grant it acts under, and is refused (FencedOut) unless that is
 * still the key's latest grant. Reads (context, counts, plans, tenant pages) and the ledger are not
 * fenced: a rotation that lost its key must still record that it failed. */
export const FENCED_ACTIVITIES: ReadonlySet<string> = new Set<string>([
  D.createKeyVersion, D.createSecretVersion, D.promoteVersion, D.setKeyOps, D.disableVersion, D.rotateTenantDek, D.publishJwks, D.rewrapRange,
  D.hierarchyKekRotation, D.hierarchyEmergency, D.hierarchyMigration, D.hierarchyBranchRotation,
]);

/** The fence rows, one per key (the port is defined with the others in lib/ports.ts). */
export type { FenceStore } from "../ports";

/** What a fenced activity carries in its input: the grant it acts under. */
export const FenceInput = z.strictObject({ owner: z.string().min(1).max(512), token: z.number().int().positive() });

const CLAIM_ATTEMPTS = 5;

/** Records a grant in the key's fence row. Idempotent (a replayed or retried claim of the same
 * grant writes nothing); refused with FencedOut when a newer grant is already recorded. */
export async function claimFence(store: FenceStore, keyId: string, claim: FenceRecord): Promise<{ recorded: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const row = await store.read(keyId);
    const decision = fenceClaim(row?.record, claim);
    if (decision === "recorded") return { recorded: false };
    if (decision === "superseded") throw fencedOut(keyId, claim, row?.record);
    try {
      await store.write(keyId, { owner: claim.owner, token: claim.token }, row?.etag);
      return { recorded: true };
    } catch (err) {
      // Another claim won the race: read again and judge against it.
      if (!(err instanceof RotationConflictError) || attempt >= CLAIM_ATTEMPTS) throw err;
    }
  }
}

/** A lock broken by hand: records a grant above the old holder's (`heldToken`), so its steps still
 * in flight (queued before it was terminated) are refused at once; the key's next grant goes above
 * it (its floor). A newer grant already recorded fences the old holder out as well: nothing to do. */
export async function retireGrant(store: FenceStore, keyId: string, heldOwner: string, heldToken: number): Promise<{ recorded: boolean }> {
  try {
    return await claimFence(store, keyId, { owner: `lock-break:${heldOwner}`, token: heldToken + 1 });
  } catch (err) {
    if (err instanceof InvariantViolationError && err.code === "FencedOut") return { recorded: false };
    throw err;
  }
}

/** The highest token recorded for the key (0 when none): the floor of its next grant. */
export async function fenceFloor(store: FenceStore, keyId: string): Promise<{ token: number }> {
  return { token: (await store.read(keyId))?.record.token ?? 0 };
}

/** Throws FencedOut unless `mine` is the latest grant recorded for the key. */
export async function checkFence(store: FenceStore, keyId: string, mine: FenceRecord): Promise<void> {
  const row = await store.read(keyId);
  if (!fenceAdmits(row?.record, mine)) throw fencedOut(keyId, mine, row?.record);
}

function fencedOut(keyId: string, mine: FenceRecord, current: FenceRecord | undefined): InvariantViolationError {
  const now = current ? `grant ${current.token} of ${current.owner}` : "no recorded grant";
  return new InvariantViolationError("FencedOut", `[keyrotor] [lock] ${mine.owner} acts under grant ${mine.token} of the lock on ${keyId}, but the current one is ${now}: its lease ended and the key was taken over; nothing was changed`);
}

/** In memory, for tests and the local host's memory mode. */
export class MemoryFenceStore implements FenceStore {
  readonly rows = new Map<string, { record: FenceRecord; etag: string }>();
  private seq = 0;
  async read(keyId: string): Promise<{ record: FenceRecord; etag: string } | undefined> {
    const row = this.rows.get(keyId);
    return row ? structuredClone(row) : undefined;
  }
  async write(keyId: string, record: FenceRecord, etag: string | undefined): Promise<void> {
    const row = this.rows.get(keyId);
    if (etag === undefined ? row !== undefined : row?.etag !== etag) {
      throw new RotationConflictError("FenceChanged", `[keyrotor] [lock] the fence row of ${keyId} changed`);
    }
    this.rows.set(keyId, { record: { ...record }, etag: String(++this.seq) });
  }
}
