// A drop event wins over a load already in flight: a branch key, primary pointer or DEK read before
// the event is handed to the caller that asked for it, but never cached, so a key the event dropped
// (a destroyed branch-key version, a replaced primary DEK) is not served for the TTL afterwards.
// The loads' promises are held by the test, so the interleaving is exact.
import { afterEach, describe, expect, it, vi } from "vitest";
import { BranchKeyCache } from "../../../lib/envelope/branchKeyCache";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { HierarchyDekStore, type StoredHierarchyDek } from "../../../lib/hierarchy/dekStore";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

const ref = { kekKeyId: "kek:v/k", branchId: "s4-00001", version: 1 };
const dropAll = { type: "BranchKeysDestroyed", kekKeyId: "kek:v/k" } as const;

/** A load the test finishes when it wants: `next()` gives the promise the next load returns. */
function heldLoads() {
  const pending: { resolve: (b: Buffer) => void }[] = [];
  let n = 0;
  const load = () => new Promise<Buffer>((resolve) => {
    n++;
    pending.push({ resolve });
  });
  return { load, finish: (i: number, fill: number) => pending[i]!.resolve(Buffer.alloc(32, fill)), count: () => n };
}

describe("BranchKeyCache generations", () => {
  it("a load in flight when a drop event arrives is returned to its caller but not cached: the next get loads again", async () => {
    const held = heldLoads();
    const cache = new BranchKeyCache(held.load);
    const first = cache.get(ref);
    expect(cache.onEvent(dropAll)).toBe(0);
    held.finish(0, 7);
    expect((await first)[0]).toBe(7);
    expect(cache.size).toBe(0);

    const again = cache.get(ref);
    expect(held.count()).toBe(2);
    held.finish(1, 8);
    expect((await again)[0]).toBe(8);
    expect(cache.size).toBe(1);
    expect((await cache.get(ref))[0]).toBe(8);
    expect(held.count()).toBe(2);
  });

  it("a miss after the event does not join the load that started before it; the newer load is the one cached, whichever finishes first", async () => {
    const held = heldLoads();
    const cache = new BranchKeyCache(held.load);
    const before = cache.get(ref);
    cache.onEvent(dropAll);
    const after = cache.get(ref);
    expect(held.count()).toBe(2);
    held.finish(1, 2);
    held.finish(0, 1);
    expect([(await before)[0], (await after)[0]]).toEqual([1, 2]);
    expect((await cache.get(ref))[0]).toBe(2);
    expect(held.count()).toBe(2);
  });

  it("clear() is a generation too: a load in flight across it is not cached", async () => {
    const held = heldLoads();
    const cache = new BranchKeyCache(held.load);
    const first = cache.get(ref);
    cache.clear();
    held.finish(0, 3);
    await first;
    expect(cache.size).toBe(0);
  });
});

/** The real DEK store with its reads held at a gate the test opens, counting reads. */
class HeldStore extends HierarchyDekStore {
  reads = { get: 0, primary: 0 };
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  hold(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  override async get(tenant: string, dekId: string): Promise<StoredHierarchyDek | undefined> {
    this.reads.get++;
    const row = await super.get(tenant, dekId);
    await this.gate;
    return row;
  }
  override async getPrimary(tenant: string): Promise<StoredHierarchyDek | undefined> {
    this.reads.primary++;
    return super.getPrimary(tenant);
  }
}

describe("HierarchyDekResolver generations", () => {
  let h: Hierarchy | undefined;
  afterEach(async () => {
    await stopHierarchy(h);
    h = undefined;
  });

  it("a DEK and a primary pointer read before a rotation event are returned but not cached: the next use reads the rows again", async () => {
    const hh = (h = await startHierarchy({ sharedBranches: 4 }));
    await new HierarchyDeks(hh.keys, hh.deks).create({ tenant: "t-a", dekVersion: 1, kekKeyId: hh.kekKeyId, kekVersion: hh.kekVersion });
    const store = new HeldStore(hh.dekTable);
    const resolver = new HierarchyDekResolver(store, hh.keys);

    store.hold();
    const inFlight = resolver.resolve("t-a", 1);
    await vi.waitUntil(() => store.reads.get === 1);
    resolver.onEvent({ type: "BranchKeysRotated", kekKeyId: hh.kekKeyId });
    store.release();
    expect((await inFlight).record.dekVersion).toBe(1);
    await resolver.resolve("t-a", 1);
    expect(store.reads.get).toBe(2);
    await resolver.resolve("t-a", 1);
    expect(store.reads.get).toBe(2);

    // The primary pointer: getPrimary reads the pointer, then get reads the DEK (held).
    resolver.onEvent({ type: "BranchKeysRotated", kekKeyId: hh.kekKeyId });
    store.hold();
    const primary = resolver.primary("t-a");
    await vi.waitUntil(() => store.reads.get === 3);
    resolver.onEvent({ type: "BranchKeysRotated", kekKeyId: hh.kekKeyId });
    store.release();
    expect((await primary).record.dekVersion).toBe(1);
    await resolver.primary("t-a");
    expect(store.reads.primary).toBe(2);
    await resolver.primary("t-a");
    expect(store.reads.primary).toBe(2);
  });
});
