// A rewrap range re-checks its lock grant before every batch it commits, not only when it starts:
// a range that keeps running after its lease ran out and the key was taken over writes no more.
import { describe, expect, it } from "vitest";
import { claimFence, MemoryFenceStore } from "../../../lib/orchestration/fence";
import { runRewrapRange } from "../../../lib/orchestration/rewrap/range";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { fromRotationDeps, type RewrapDek, type RewrapDeps, type RewrapStore } from "../../../lib/orchestration/rewrap/deps";

const KEK = "kek:vault1/kek1";
const TENANT = "t1";

interface Fixture {
  deps: RewrapDeps;
  /** Rows by DEK id: the KEK version each is under now. */
  rows: Map<string, string>;
  commits: number;
}

/** One tenant of `n` DEKs under v1; `afterCommit` runs after each batch the store commits. */
function fixture(n: number, fences: MemoryFenceStore | undefined, afterCommit: (commitNo: number) => Promise<void> = async () => undefined): Fixture {
  const rows = new Map<string, string>(Array.from({ length: n }, (_, i) => [`d${String(i).padStart(4, "0")}`, "v1"]));
  const fx: Fixture = { deps: undefined as unknown as RewrapDeps, rows, commits: 0 };
  const toDek = (id: string, version: string): RewrapDek => ({ tenant: TENANT, id, kekKeyId: KEK, kekVersion: version, etag: version, wrapped: Buffer.from(id), source: id });
  const store: RewrapStore = {
    resolvesConflicts: true,
    tenantsPage: async () => ({ tenants: [TENANT] }),
    countPending: async (_k, v) => [...rows.values()].filter((x) => x !== v).length,
    scan: async (_t, o) => {
      const pending = [...rows.entries()].filter(([, v]) => v !== o.notUnder.kekVersion);
      // Rewrapped rows drop out of the scan, so the next page starts at the first one still pending.
      return { deks: pending.slice(0, o.limit).map(([id, v]) => toDek(id, v)), ...(pending.length > o.limit ? { continuation: "more" } : {}) };
    },
    commit: async (_t, deks, target, wrapped) => {
      for (const d of deks) if (wrapped.has(d.id)) rows.set(d.id, target.kekVersion);
      fx.commits++;
      await afterCommit(fx.commits);
      return { rewrapped: deks.length, skipped: 0, conflicts: 0, missing: 0, reread: false };
    },
  };
  fx.deps = {
    store,
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
  return fx;
}

const rangeInput = (fence: { owner: string; token: number }) => ({
  op: "range", rotationId: "rot-A", kekKeyId: KEK, newVersion: "v2", cursors: [{ tenant: TENANT }],
  sharePerSec: 0, sliceMs: 60_000, maxDeks: 1000, fence,
});

const underV2 = (rows: Map<string, string>): number => [...rows.values()].filter((v) => v === "v2").length;

describe("a rewrap range fenced per batch", () => {
  it("stops with FencedOut before its next batch once a newer grant is recorded, writing none of the later batches", async () => {
    const fences = new MemoryFenceStore();
    await claimFence(fences, KEK, { owner: "rot-A", token: 1 });
    // The lease of rot-A runs out while its first batch commits; rot-B takes the key over.
    const fx = fixture(350, fences, async (no) => {
      if (no === 1) await claimFence(fences, KEK, { owner: "rot-B", token: 2 });
    });
    await expect(runRewrapRange(rangeInput({ owner: "rot-A", token: 1 }), fx.deps)).rejects.toThrow(/\[invariantViolation\] FencedOut/);
    expect(fx.commits).toBe(1);
    expect(underV2(fx.rows)).toBe(100); // the first batch only; 250 DEKs stay for rot-B
  });

  it("commits every batch while its grant stays the latest", async () => {
    const fences = new MemoryFenceStore();
    await claimFence(fences, KEK, { owner: "rot-A", token: 1 });
    const fx = fixture(350, fences);
    const out = await runRewrapRange(rangeInput({ owner: "rot-A", token: 1 }), fx.deps);
    expect(out).toMatchObject({ rewrapped: 350, tenantsDone: 1 });
    expect(fx.commits).toBe(4);
    expect(underV2(fx.rows)).toBe(350);
  });

  it("the rotation engine's ports carry their fence store into the rewrap", () => {
    const deps = memoryRotationDeps();
    expect(fromRotationDeps(deps).fences).toBe(deps.fences);
  });
});
