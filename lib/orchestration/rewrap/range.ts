// The rewrap activity: plan (count + budget), a page of the tenants index, and the range worker.
// A range worker re-wraps the DEKs of a few tenants' partitions for one time slice at its share of
// the vault budget: a token bucket paces the remote unwraps, which run concurrently up to what the
// share needs; the wrap is local; writes go back in ≤100-entity If-Match transactions. It returns
// counts and the continuation to resume from — never key material.
import { DependencyUnavailableError, InvalidRequestError, isKnownError, InvariantViolationError, toHistoryError } from "../../domain/errors";
import { acquire, keyVaultBackoffMs, TokenBucket } from "../../domain/rateControl";
import { keyShapeOf, vaultBudgetPerSecond, vaultLimitPer10s } from "../../domain/vaultLimits";
import { checkFence } from "../fence";
import type { StoredDek } from "../../envelope/dekRecord";
import { UNVERIFIED_FLAT_DEKS } from "../../envelope/flatDekAuth";
import { type RewrapDeps, type RewrapTarget, type RewrapVault } from "./deps";
import { RewrapRangeInput, type Cursor, type PlanOp, type RangeOp, type RangeResult, type RewrapPlan, type RewrapRangeOutput, type RewrapRangeRequest, type TenantsOp, type TenantsPage } from "./types";

const TX = 100; // Table transactions hold at most 100 operations
const INITIAL_LANES = 4;

/** The activity handler: parse, run, and put errors in the format that crosses history. */
export async function runRewrapRange(raw: unknown, deps: RewrapDeps): Promise<RewrapRangeOutput> {
  try {
    const parsed = RewrapRangeInput.safeParse(raw ?? {});
    if (!parsed.success) {
      throw new InvalidRequestError("ActivityInputInvalid", `[keyrotor] [rewrap] rewrapRange: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
    }
    return await rewrapRange(deps, parsed.data);
  } catch (err) {
    throw toHistoryError(err);
  }
}

export async function rewrapRange(deps: RewrapDeps, input: RewrapRangeRequest): Promise<RewrapRangeOutput> {
  switch (input.op) {
    case "plan": return planRewrap(deps, input);
    case "tenants": return tenantsPage(deps, input);
    case "range": return rewrapCursors(deps, input);
  }
}

// ---- plan ---------------------------------------------------------------------------------------

export async function planRewrap(deps: RewrapDeps, input: PlanOp): Promise<RewrapPlan> {
  const total = input.total ?? (await countPending(deps, input.kekKeyId, input.newVersion));
  const shape = await deps.vaultFor(input.kekKeyId).shape(input.newVersion);
  const { shape: s, protection } = keyShapeOf(shape.kty, shape.bits);
  const keyShape = `${s.kty}${s.kty === "RSA" ? `-${s.size}` : ""} ${protection}`;
  const limitPer10s = deps.vaultLimitPer10s ?? vaultLimitPer10s(s, protection);
  const budgetPerSec = limitPer10s === 0 ? 0 : vaultBudgetPerSecond(limitPer10s, deps.budgetFraction);
  return { total, budgetPerSec, limitPer10s, keyShape, budgetFraction: deps.budgetFraction };
}

/** DEKs of the KEK under any version but `newVersion`. */
async function countPending(deps: RewrapDeps, kekKeyId: string, newVersion: string): Promise<number> {
  const counts = await deps.deks.countByKekVersion(kekKeyId);
  return Object.entries(counts).filter(([v]) => v !== newVersion).reduce((s, [, n]) => s + n, 0);
}

export async function tenantsPage(deps: RewrapDeps, input: TenantsOp): Promise<TenantsPage> {
  return deps.deks.tenantsPage({ limit: input.limit, ...(input.continuation ? { continuation: input.continuation } : {}) });
}

// ---- range --------------------------------------------------------------------------------------

interface Meter {
  unwrapCalls: number;
  throttled: number;
  unreadable: number;
  refused: number;
}

/** The refusals of lib/envelope/flatDekAuth.ts: the row is not what keyrotor signed. */
const REFUSALS = new Set(["FlatDekUnsigned", "FlatDekSignatureInvalid", "FlatDekSignerMissing", "FlatDekCommitmentMismatch"]);
const isRefusal = (err: unknown): boolean => err instanceof InvariantViolationError && REFUSALS.has(err.code);

/** Authenticate (local: the row's signature, before any unwrap), unwrap (remote, paced, 429 → back
 * off and retry this DEK), check the DEK against its signed commitment, then wrap locally.
 * undefined = the DEK cannot be unwrapped (corrupt or its version is gone) or its row does not
 * authenticate: it keeps its old version, counted (unreadable / refused). The re-wrap carries the
 * row's signature over unchanged (merged wrap columns only): it never signs, it cannot vouch for a
 * row, so a row that does not verify is never re-wrapped. */
async function rewrapOne(deps: RewrapDeps, vault: RewrapVault, bucket: TokenBucket | undefined, dek: StoredDek, newVersion: string, m: Meter): Promise<Uint8Array | undefined> {
  const auth = deps.flatAuth ?? UNVERIFIED_FLAT_DEKS;
  try {
    await auth.verify(dek);
  } catch (err) {
    if (!isRefusal(err)) throw err;
    m.refused++;
    deps.onRefused?.(dek, err as InvariantViolationError);
    return undefined;
  }
  let plaintext: Buffer | undefined;
  for (let attempt = 0; plaintext === undefined; attempt++) {
    if (bucket) await acquire(bucket, () => deps.now(), (ms) => deps.sleep(ms));
    m.unwrapCalls++;
    try {
      plaintext = await vault.unwrap(dek.kekVersion, Buffer.from(dek.wrapped, "base64url"));
    } catch (err) {
      if (err instanceof DependencyUnavailableError && err.code === "Throttled") {
        m.throttled++;
        // Key Vault often sends no Retry-After; the SDK then does not retry: back off 1, 2, 4, 8, 16 s.
        const wait = keyVaultBackoffMs(attempt, deps.random(), err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {});
        if (wait === undefined) throw err;
        await deps.sleep(wait);
        continue;
      }
      if (err instanceof InvalidRequestError) {
        m.unreadable++;
        return undefined;
      }
      throw err;
    }
  }
  try {
    auth.checkKey(dek, plaintext);
  } catch (err) {
    if (!isRefusal(err)) throw err;
    m.refused++;
    deps.onRefused?.(dek, err as InvariantViolationError);
    return undefined;
  }
  try {
    return await vault.wrap(newVersion, plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** How many unwraps a range runs at once: it starts with a few lanes and opens another (up to
 * `max`) whenever the bucket overflows — tokens going unspent because every lane is waiting on the
 * vault. Opening all lanes at once would open as many connections at once: their handshakes stall
 * the first calls, the paced calls pile up behind them and reach the vault as one burst of 429s. */
export interface Lanes {
  open: number;
  readonly max: number;
  /** true = tokens are being lost for want of a free lane. */
  starved(): boolean;
}

/** Runs `fn` over `items` on `lanes.open` workers, adding workers while the lanes are starved. */
export async function forEachOnLanes<T>(items: readonly T[], lanes: Lanes, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers: Promise<void>[] = [];
  const start = (): void => {
    const w = worker();
    w.catch(() => undefined); // observed now, rethrown below: a later lane's failure is no unhandled rejection
    workers.push(w);
  };
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      // Take this lane's item first: a lane opened below starts at once and takes the next one.
      const item = items[next++] as T;
      if (next < items.length && lanes.open < lanes.max && lanes.starved()) {
        lanes.open++;
        start();
      }
      await fn(item);
    }
  };
  // Counted once: lanes opened by the first workers (synchronously, as they start) are their own.
  const initial = Math.min(Math.max(1, lanes.open), items.length);
  for (let i = 0; i < initial; i++) start();
  // Workers added while awaiting are awaited too.
  for (let i = 0; i < workers.length; i++) await workers[i];
}

/** Concurrent unwraps needed to sustain `share`/s when one takes up to ~250 ms (a loaded vault or
 * host), plus spares for DEKs sleeping in a 429 backoff; the token bucket, not this, sets the rate.
 * Unpaced: enough to keep the vault and the table busy. */
export function unwrapConcurrency(sharePerSec: number): number {
  if (sharePerSec <= 0) return 32;
  return Math.min(64, Math.ceil(sharePerSec * 0.25) + 4);
}

export async function rewrapCursors(deps: RewrapDeps, input: RangeOp): Promise<RangeResult> {
  const started = deps.now();
  const deadline = started + input.sliceMs;
  const target: RewrapTarget = { kekKeyId: input.kekKeyId, kekVersion: input.newVersion };
  const vault = deps.vaultFor(input.kekKeyId);
  const share = input.sharePerSec;
  // Burst of 100 ms: the activities of a wave together never exceed the budget by more than that.
  const bucket = share > 0 ? new TokenBucket({ ratePerSecond: share, burst: Math.max(1, share / 10) }) : undefined;
  bucket?.available(started); // the bucket fills from now, while the first page is read
  const concurrency = unwrapConcurrency(share);
  const lanes: Lanes = {
    open: bucket ? Math.min(concurrency, INITIAL_LANES) : concurrency,
    max: concurrency,
    starved: () => bucket !== undefined && bucket.available(deps.now()) >= bucket.burst,
  };
  const m: Meter = { unwrapCalls: 0, throttled: 0, unreadable: 0, refused: 0 };
  const fence = input.fence && deps.fences ? { store: deps.fences, grant: input.fence } : undefined;
  const r: RangeResult = { cursors: [], tenantsDone: 0, scanned: 0, rewrapped: 0, skipped: 0, conflicts: 0, unreadable: 0, refused: 0, unwrapCalls: 0, throttled: 0, missing: 0, elapsedMs: 0 };
  let budget = Math.min(input.maxDeks, deps.dekBatch ?? input.maxDeks);
  const timeLeft = () => deadline - deps.now();
  const recompute = async (dek: StoredDek): Promise<Uint8Array> => {
    const w = await rewrapOne(deps, vault, bucket, dek, input.newVersion, m);
    if (!w) throw new InvariantViolationError("DekUnreadable", `[keyrotor] [rewrap] DEK ${dek.tenant}/${dek.dekId} changed during the rewrap and can no longer be unwrapped or no longer authenticates`);
    return w;
  };

  type Page = Awaited<ReturnType<RewrapDeps["deks"]["scanRange"]>>;
  // The next page is read while this one's unwraps run, and a chunk's commit overlaps the next
  // chunk's unwraps (across pages and tenants when the store resolves its own conflicts), so the
  // vault share is spent without pauses for Table round trips.
  let prefetched: { key: string; page: Promise<Page> } | undefined;
  // Read no more than the share can rewrap in the slice left: what is read and not done is read again.
  const pageLimit = (): number => Math.max(1, Math.min(1000, budget, share > 0 ? Math.ceil((share * Math.max(0, timeLeft())) / 1000) + 10 : 1000));
  const scan = (tenant: string, continuation: string | undefined): Promise<Page> => {
    const key = `${tenant}\u0000${continuation ?? ""}`;
    const hit = prefetched?.key === key ? prefetched.page : undefined;
    prefetched = undefined;
    return hit ?? deps.deks.scanRange(tenant, { limit: pageLimit(), notUnder: target, ...(continuation ? { continuation } : {}) });
  };
  const prefetch = (tenant: string, continuation: string | undefined, after: number): void => {
    const limit = Math.max(1, Math.min(1000, budget - after, share > 0 ? Math.ceil((share * Math.max(0, timeLeft())) / 1000) - after + 10 : 1000));
    if (budget - after <= 0) return;
    const page = deps.deks.scanRange(tenant, { limit, notUnder: target, ...(continuation ? { continuation } : {}) });
    page.catch(() => undefined); // an unused prefetch may fail unobserved; a used one rethrows
    prefetched = { key: `${tenant}\u0000${continuation ?? ""}`, page };
  };
  let committing: Promise<void> | undefined;
  let reread = false;
  const commit = (chunk: StoredDek[], wrapped: Map<string, Uint8Array>): Promise<void> =>
    deps.deks.rewrapBatch(tenantOf(chunk), chunk, target, wrapped, recompute).then((c) => {
      r.rewrapped += c.rewrapped;
      r.skipped += c.skipped;
      r.conflicts += c.conflicts;
      r.missing += c.missing;
      if (c.changed > 0) reread = true;
    });
  const settle = async (): Promise<void> => {
    const c = committing;
    committing = undefined;
    if (c) await c;
  };

  const queue = [...input.cursors];
  try {
    while (queue.length > 0) {
      const cur = queue[0]!;
      if (budget <= 0 || timeLeft() <= 0) break;
      let continuation = cur.continuation;
      let finished = false;
      let stop = false;
      while (!stop) {
        const page = await scan(cur.tenant, continuation);
        r.scanned += page.records.length;
        const todo = page.records.filter((d) => {
          const ours = d.kekKeyId === target.kekKeyId && d.kekVersion !== target.kekVersion;
          if (!ours) r.skipped++;
          return ours;
        });
        if (page.continuation) prefetch(cur.tenant, page.continuation, todo.length);
        else if (queue[1]) prefetch(queue[1].tenant, queue[1].continuation, todo.length);
        const processed = await rewrapPage(todo);
        // A store that leaves conflicts to us: see this page's outcome before moving past it.
        if (!deps.deks.resolvesConflicts) await settle();
        if (reread || processed < todo.length) {
          // Stopped inside the page (slice over, batch full, or a row changed): resume at its start;
          // rows already rewrapped are skipped there.
          stop = true;
        } else if (page.continuation) {
          continuation = page.continuation;
          stop = budget <= 0 || timeLeft() <= 0;
        } else {
          finished = true;
          stop = true;
        }
      }
      if (finished) {
        queue.shift();
        r.tenantsDone++;
      } else {
        queue[0] = { tenant: cur.tenant, ...(continuation ? { continuation } : {}), ...(cur.attempts ? { attempts: cur.attempts } : {}) };
        break;
      }
    }
    await settle();
  } catch (err) {
    await settle().catch(() => undefined); // its outcome is in the counts or irrelevant: we fail anyway
    // Transient trouble (Table or vault unavailable, 429s beyond the backoff schedule): report what
    // was done and where to resume, so the orchestrator's wave keeps its other results.
    if (!(err instanceof DependencyUnavailableError || (isKnownError(err) && err.family === "conflict"))) throw err;
    r.failed = { code: err.code, message: err.message.slice(0, 300) };
  }
  r.cursors = queue;
  r.unwrapCalls = m.unwrapCalls;
  r.throttled = m.throttled;
  r.unreadable = m.unreadable;
  r.refused = m.refused;
  r.elapsedMs = deps.now() - started;
  return r;

  /** Re-wraps a page's DEKs in transactions of ≤100; returns how many of them it took on. */
  async function rewrapPage(todo: StoredDek[]): Promise<number> {
    let processed = 0;
    while (processed < todo.length && budget > 0) {
      const left = timeLeft();
      if (left <= 0) break;
      // Size the chunk to what the share can do in the time left, so the slice is kept.
      const affordable = share > 0 ? Math.max(1, Math.floor((share * left) / 1000)) : TX;
      const size = Math.min(TX, affordable, budget, todo.length - processed);
      const chunk = todo.slice(processed, processed + size);
      processed += size;
      budget -= size;
      const wrapped = new Map<string, Uint8Array>();
      await forEachOnLanes(chunk, lanes, async (d) => {
        const w = await rewrapOne(deps, vault, bucket, d, target.kekVersion, m);
        if (w) wrapped.set(d.dekId, w);
      });
      const writable = chunk.filter((d) => wrapped.has(d.dekId));
      await settle();
      if (writable.length === 0) continue;
      // Fenced before every batch, not only at the start (every mutating step checks the lock grant
      // first): a range still running when
      // its lease ran out and the key was taken over stops here with FencedOut, writing no more.
      if (fence) await checkFence(fence.store, input.kekKeyId, fence.grant);
      committing = commit(writable, wrapped);
    }
    return processed;
  }
}

const tenantOf = (chunk: StoredDek[]): string => chunk[0]!.tenant;

export type { Cursor };
