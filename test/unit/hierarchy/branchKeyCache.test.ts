// The consumer's branch-key cache: one remote unwrap per branch-key version per TTL however many
// DEKs and tenants sit under it, bounded in size, zeroed on eviction, dropped on rotation events.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BranchKeyCache } from "../../../lib/envelope/branchKeyCache";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

const ref = (branchId: string, version = 1) => ({ kekKeyId: "kek:v/k", branchId, version });

describe("BranchKeyCache", () => {
  it("shares one load between concurrent misses and serves hits until the TTL, then loads again", async () => {
    let now = 0;
    let loads = 0;
    const cache = new BranchKeyCache(async () => {
      loads++;
      return Buffer.alloc(32, loads);
    }, { ttlMs: 1000, now: () => now });
    await Promise.all([cache.get(ref("s4-00001")), cache.get(ref("s4-00001")), cache.get(ref("s4-00001"))]);
    now = 999;
    await cache.get(ref("s4-00001"));
    expect(loads).toBe(1);
    now = 1000;
    expect((await cache.get(ref("s4-00001")))[0]).toBe(2);
  });

  it("holds at most maxEntries keys and zeroes the ones it evicts", async () => {
    const cache = new BranchKeyCache(async () => Buffer.alloc(32, 7), { maxEntries: 2 });
    const first = await cache.get(ref("s4-00000"));
    await cache.get(ref("s4-00001"));
    await cache.get(ref("s4-00002"));
    expect(cache.size).toBe(2);
    expect(first.every((b) => b === 0)).toBe(true);
  });

  it("drops exactly the keys a rotation event names (one KEK, some or all of its branch keys)", async () => {
    const cache = new BranchKeyCache(async () => Buffer.alloc(32, 1));
    await cache.get(ref("s4-00000"));
    await cache.get(ref("s4-00001"));
    await cache.get({ kekKeyId: "kek:v/other", branchId: "s4-00000", version: 1 });
    expect(cache.onEvent({ type: "BranchKeysRotated", kekKeyId: "kek:v/k", branchIds: ["s4-00001"] })).toBe(1);
    expect(cache.onEvent({ type: "BranchKeysDestroyed", kekKeyId: "kek:v/k" })).toBe(1);
    expect(cache.size).toBe(1);
  });
});

describe("HierarchyDekResolver against the Key Vault peer", () => {
  let h: Hierarchy;
  beforeAll(async () => {
    h = await startHierarchy({ sharedBranches: 2 });
  });
  afterAll(() => stopHierarchy(h));

  it("decrypts many records of many tenants with one remote unwrap per branch key (cold cache)", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
    const cts: string[] = [];
    for (let t = 0; t < 12; t++) {
      await writer.create({ tenant: `c${t}`, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
      for (let i = 0; i < 5; i++) cts.push(await env.encrypt(`c${t}`, Buffer.from(`c${t}:${i}`)));
    }
    const unwraps0 = await h.unwraps();
    const cold = new HierarchyDekResolver(h.deks, h.keys);
    const out = await Promise.all(cts.map((ct) => new Envelope(cold).decrypt(ct)));
    expect(out.map((b) => b.toString())).toEqual(cts.map((_, i) => `c${Math.floor(i / 5)}:${i % 5}`));
    expect((await h.unwraps()) - unwraps0).toBe(2);
    expect(cold.branchCache.loads).toBe(2);
  });
});
