// A rewrap range re-checks its lock grant before every batch it commits, not only when it starts:
// a range that keeps running after its lease ran out and the key was taken over writes no more.
import { describe, expect, it } from "vitest";
import { claimFence, MemoryFenceStore } from "../../../lib/orchestration/fence";
import { runRewrapRange } from "../../../lib/orchestration/rewrap/range";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { fromRotationDeps, type RewrapDeps } from "../../../lib/orchestration/rewrap/deps";
import { MemoryDekStore } from "../../../lib/orchestration/memory";
import { dekRecord, type DekWrap, type StoredDek } from "../../../lib/envelope/dekRecord";
import type { DekRewrapCounts } from "../../../lib/ports";

const KEK = "kek:vault1/kek1";
const TENANT = "t1";

/** The memory DEK table, counting the batches it commits; `afterCommit` runs after each. */
class CountingDeks extends MemoryDekStore {
  commits = 0;
  constructor(private readonly afterCommit: (commitNo: number) => Promise<void>) {
    super();
  }
  override async rewrapBatch(tenant: string, deks: readonly StoredDek[], target: DekWrap, wrapped: ReadonlyMap<string, Uint8Array>): Promise<DekRewrapCounts> {
    const r = await super.rewrapBatch(tenant, deks, target, wrapped);
    this.commits++;
    await this.afterCommit(this.commits);
    return r;
  }
}

interface Fixture {
  deps: RewrapDeps;
  deks: CountingDeks;
}

/** One tenant of `n` DEKs under v1. */
function fixture(n: number, fences: MemoryFenceStore | undefined, afterCommit: (commitNo: number) => Promise<void> = async () => undefined): Fixture {
  const deks = new CountingDeks(afterCommit);
  for (let i = 0; i < n; i++) {
    deks.insert(dekRecord({ tenant: TENANT, dekVersion: i + 1, kekKeyId: KEK, kekVersion: "v1", wrapped: Buffer.from(`dek${i}`), createdAt: "2026-01-01T00:00:00.000Z", state: i === 0 ? "primary" : "secondary" }));
  }
  const deps: RewrapDeps = {
    deks,
    vaultFor: () => ({
      unwrap: async (_v, w) => Buffer.from(w),
      wrap: async (_v, p) => Buffer.from(p),
      shape: async () => ({ kty: "RSA", bits: 2048 }),
    }),
    budgetFraction: 0.8,
    vaultLimitPer10s: 0,
    ...(fences ? { fences } : {}),
    now: () => Date.now(),
    sleep: async () => undefined,
    random: () => 0.5,
  };
  return { deps, deks };
}

const rangeInput = (fence: { owner: string; token: number }) => ({
  op: "range", rotationId: "rot-A", kekKeyId: KEK, newVersion: "v2", cursors: [{ tenant: TENANT }],
  sharePerSec: 0, sliceMs: 60_000, maxDeks: 1000, fence,
});

const underV2 = async (deks: MemoryDekStore): Promise<number> => (await deks.countByKekVersion(KEK)).v2 ?? 0;

describe("a rewrap range fenced per batch", () => {
  it("stops with FencedOut before its next batch once a newer grant is recorded, writing none of the later batches", async () => {
    const fences = new MemoryFenceStore();
    await claimFence(fences, KEK, { owner: "rot-A", token: 1 });
    // The lease of rot-A runs out while its first batch commits; rot-B takes the key over.
    const fx = fixture(350, fences, async (no) => {
      if (no === 1) await claimFence(fences, KEK, { owner: "rot-B", token: 2 });
    });
    await expect(runRewrapRange(rangeInput({ owner: "rot-A", token: 1 }), fx.deps)).rejects.toThrow(/\[invariantViolation\] FencedOut/);
    expect(fx.deks.commits).toBe(1);
    expect(await underV2(fx.deks)).toBe(100); // the first batch only; 250 DEKs stay for rot-B
  });

  it("commits every batch while its grant stays the latest", async () => {
    const fences = new MemoryFenceStore();
    await claimFence(fences, KEK, { owner: "rot-A", token: 1 });
    const fx = fixture(350, fences);
    const out = await runRewrapRange(rangeInput({ owner: "rot-A", token: 1 }), fx.deps);
    expect(out).toMatchObject({ rewrapped: 350, tenantsDone: 1 });
    expect(fx.deks.commits).toBe(4);
    expect(await underV2(fx.deks)).toBe(350);
  });

  it("the rotation engine's ports carry their fence store into the rewrap", () => {
    const deps = memoryRotationDeps();
    expect(fromRotationDeps(deps).fences).toBe(deps.fences);
  });
});
