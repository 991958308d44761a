// The consumer's in-memory cache of unwrapped branch keys: ONE Key Vault unwrap per branch-key
// version per TTL, however many DEKs and tenants sit under it. Bounded (maxEntries, oldest out
// first), entries zeroed on eviction, concurrent misses share one load, and evicted at once on the
// hierarchy's rotation events (a KEK rotation, a branch-key rotation, an emergency), so a destroyed
// branch key does not outlive its record in any consumer that hears the event.
export interface BranchKeyRef {
  kekKeyId: string;
  branchId: string;
  version: number;
}

export interface BranchKeyCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/** What the hierarchy's workflows publish when consumers must drop cached keys. */
export interface BranchKeyEvent {
  type: "BranchKeysRotated" | "BranchKeysDestroyed";
  kekKeyId: string;
  /** Undefined: every branch key of the KEK. */
  branchIds?: string[];
}

/** Branch ids named in an event's details at most; more, and the event names every branch key of
 * the KEK (a consumer dropping a few keys too many only unwraps them again). */
const MAX_NAMED_BRANCHES = 32;

/** How a hierarchy event travels inside a rotation event (RotationEvent.details): the flat
 * string/number/boolean details every event carries, so the event schema needs no new type. */
export function dropCachedKeysDetails(e: BranchKeyEvent): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = { dropCachedKeys: true, branchKeyEvent: e.type };
  if (e.branchIds && e.branchIds.length <= MAX_NAMED_BRANCHES) out.branchIds = e.branchIds.join(",");
  return out;
}

/** The hierarchy event a rotation event carries (details.dropCachedKeys), for a consumer that
 * hears keyrotor's rotation events: undefined when it asks nothing of the cache. */
export function branchKeyEventOf(e: { keyId: string; details?: Record<string, string | number | boolean> }): BranchKeyEvent | undefined {
  const d = e.details;
  if (d?.dropCachedKeys !== true) return undefined;
  const type = d.branchKeyEvent === "BranchKeysRotated" ? "BranchKeysRotated" : "BranchKeysDestroyed";
  const branchIds = typeof d.branchIds === "string" && d.branchIds !== "" ? d.branchIds.split(",") : undefined;
  return { type, kekKeyId: e.keyId, ...(branchIds ? { branchIds } : {}) };
}

interface Entry {
  key: Buffer;
  expiresAt: number;
}

const keyOf = (r: BranchKeyRef) => `${r.kekKeyId}|${r.branchId}|${r.version}`;

export class BranchKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, { generation: number; promise: Promise<Buffer> }>();
  /** Bumped by every event (and clear): a load that started before it may be loading the very key
   * the event dropped (a destroyed version read just before its row went), so a load finishing
   * under an older generation is handed to its callers but never cached, and a miss after the event
   * starts a load of its own instead of joining it. */
  private generation = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Loads (remote unwraps) done. */
  loads = 0;

  constructor(private readonly load: (ref: BranchKeyRef) => Promise<Buffer>, opts: BranchKeyCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.maxEntries = opts.maxEntries ?? 1024;
    this.now = opts.now ?? Date.now;
  }

  /** The branch key's plaintext; owned by the cache (do not keep or modify). */
  async get(ref: BranchKeyRef): Promise<Buffer> {
    const k = keyOf(ref);
    const hit = this.entries.get(k);
    if (hit && hit.expiresAt > this.now()) return hit.key;
    if (hit) this.evict(k);
    const running = this.inflight.get(k);
    if (running && running.generation === this.generation) return running.promise;
    const generation = this.generation;
    const promise: Promise<Buffer> = this.fetch(k, ref, generation).finally(() => {
      if (this.inflight.get(k)?.promise === promise) this.inflight.delete(k);
    });
    this.inflight.set(k, { generation, promise });
    return promise;
  }

  private async fetch(k: string, ref: BranchKeyRef, generation: number): Promise<Buffer> {
    this.loads++;
    const key = await this.load(ref);
    // Loaded across an event: its callers get it (they asked before the event), the cache does not
    // keep it (not zeroed here: the callers still hold it).
    if (generation !== this.generation) return key;
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.evict(oldest);
    }
    this.entries.set(k, { key, expiresAt: this.now() + this.ttlMs });
    return key;
  }

  /** Adds a key the caller already holds (a branch key it just created); the cache takes it over. */
  seed(ref: BranchKeyRef, key: Buffer): void {
    const k = keyOf(ref);
    if (this.entries.has(k)) {
      key.fill(0);
      return;
    }
    this.entries.set(k, { key, expiresAt: this.now() + this.ttlMs });
  }

  /** Drops (and zeroes) the entries an event names. */
  onEvent(e: BranchKeyEvent): number {
    this.generation++;
    let n = 0;
    const prefix = `${e.kekKeyId}|`;
    for (const k of [...this.entries.keys()]) {
      if (!k.startsWith(prefix)) continue;
      if (e.branchIds && !e.branchIds.includes(k.slice(prefix.length).split("|")[0] ?? "")) continue;
      this.evict(k);
      n++;
    }
    return n;
  }

  clear(): void {
    this.generation++;
    for (const k of [...this.entries.keys()]) this.evict(k);
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(k: string): void {
    this.entries.get(k)?.key.fill(0);
    this.entries.delete(k);
  }
}
