// The KEK rewrap on the in-process durable host against Azurite and the Key Vault peer: it holds a
// throttled vault's budget, never loses a concurrent update, resumes without redoing finished
// ranges, and keeps every orchestration's history bounded.
import "../../../dev/host";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, startHost, type DevHost } from "../../../dev/host";
import { dekIdFor } from "../../../lib/envelope/dekRecord";
import { escapeKey } from "../../../lib/stores/tables";
import { rewrapCursors, type RewrapDeps, type RewrapPassResult, type RewrapProgress, type RewrapRequest } from "../../../lib/orchestration/rewrap";
import { checkpoints, PARENT, rewrapAppHookData } from "./app";
import { entries, fixture, interceptUnwrap, type Fixture } from "./support";

let host: DevHost | undefined;
let fx: Fixture | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
  await fx?.stop();
  fx = undefined;
  checkpoints.length = 0;
});

function request(f: Fixture, options: RewrapRequest["options"] = {}): RewrapRequest {
  return { rotationId: `${f.kekKeyId}@test`, kekKeyId: f.kekKeyId, newVersion: f.v2, pass: 1, options };
}

async function run(h: DevHost, id: string, req: RewrapRequest): Promise<{ out: RewrapPassResult; progress: RewrapProgress }> {
  await h.client.startNew(PARENT, { instanceId: id, input: req });
  const st = await h.client.waitForCompletion(id, { timeoutMs: 90_000 });
  expect(st.runtimeStatus, JSON.stringify(st.output)).toBe("Completed");
  return { out: st.output as RewrapPassResult, progress: (st.customStatus as { progress: RewrapProgress }).progress };
}

async function maxHistory(h: DevHost): Promise<number> {
  let max = 0;
  for (const row of await h.store.listInstances()) max = Math.max(max, h.maxHistoryEventCount(row.instanceId));
  return max;
}

describe("rewrap against a throttled Key Vault", () => {
  it("holds a peer throttled at 200 unwraps/s: 1,000 DEKs all rewrapped and readable, 429s a small fraction", async () => {
    fx = await fixture(10, 100);
    fx.peer.admin.setThrottle({ ratePerSecond: 200 });
    // The orchestrator is told the vault's limit is the peer's (2,000 per 10 s) and spends 90% of it.
    const rewrap: RewrapDeps = fx.deps({ vaultLimitPer10s: 2000, budgetFraction: 0.9 });
    host = await startHost({ entry: entries, appHookData: rewrapAppHookData(rewrap) });
    const { out, progress } = await run(host, "throttled", request(fx, { maxSlots: 4, sliceMs: 1000 }));
    const stats = fx.peer.admin.stats();
    expect(out).toMatchObject({ rewrapped: 1000, total: 1000, budgetPerSec: 180, unreadable: 0 });
    expect(progress).toMatchObject({ rewrapped: 1000, total: 1000 });
    expect(stats.throttled429).toBeLessThanOrEqual(stats.unwrapCalls * 0.05);
    // Every 429 was retried, nothing else was unwrapped twice.
    expect(stats.unwrapCalls).toBe(1000 + stats.throttled429);
    expect(out.throttled).toBe(stats.throttled429);
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(await fx.check()).toEqual({ byVersion: { [fx.v2]: 1000 }, mismatches: 0 });
  });

  it("backs off and retries a DEK answered 429 without Retry-After, and counts it", async () => {
    fx = await fixture(2, 20);
    fx.peer.admin.failNext("unwrapKey", 3, 429, { code: "Throttled", message: "Request was not processed because too many requests were received." });
    const rewrap: RewrapDeps = fx.deps();
    host = await startHost({ entry: entries, appHookData: rewrapAppHookData(rewrap) });
    const { out } = await run(host, "no-retry-after", request(fx));
    expect(out).toMatchObject({ rewrapped: 40, throttled: 3, unwrapCalls: 43 });
    expect(await fx.check()).toEqual({ byVersion: { [fx.v2]: 40 }, mismatches: 0 });
  });
});

describe("rewrap under concurrent writers", () => {
  it("re-reads a DEK changed meanwhile (412) and rewraps its new contents: neither update is lost", async () => {
    fx = await fixture(1, 30);
    const f = fx;
    const pk = escapeKey("t000");
    const replaced = Buffer.alloc(32, 7);
    const deps = f.deps();
    // While the first unwraps run, another writer demotes DEK 5 and replaces DEK 7 (still under v1).
    const vault = interceptUnwrap(deps.vaultFor(f.kekKeyId), async (n) => {
      if (n !== 0) return;
      await f.table.updateEntity({ partitionKey: pk, rowKey: dekIdFor(5), state: "retired" }, "Merge");
      const wrapped = await f.adapter.wrap("tenant-kek", f.v1, replaced);
      await f.table.updateEntity({ partitionKey: pk, rowKey: dekIdFor(7), wrapped: wrapped.toString("base64url") }, "Merge");
      f.plaintexts.set(`t000/${dekIdFor(7)}`, replaced);
    });
    const r = await rewrapCursors({ ...deps, vaultFor: () => vault }, {
      op: "range", rotationId: "r", kekKeyId: f.kekKeyId, newVersion: f.v2, cursors: [{ tenant: "t000" }], sharePerSec: 0, sliceMs: 30_000, maxDeks: 1000,
    });
    expect(r.conflicts).toBeGreaterThan(0);
    expect(r).toMatchObject({ rewrapped: 30, cursors: [], tenantsDone: 1 });
    expect((await f.store.get("t000", dekIdFor(5)))?.state).toBe("retired");
    expect(await f.check()).toEqual({ byVersion: { [f.v2]: 30 }, mismatches: 0 });
  });
});

describe("rewrap crash and resume", () => {
  it("resumes from the last checkpoint: after a crash only the remaining DEKs are unwrapped", async () => {
    fx = await fixture(10, 100);
    const total = 1000;
    fx.peer.admin.setThrottle({ ratePerSecond: 250 });
    const rewrap: RewrapDeps = fx.deps({ vaultLimitPer10s: 2500, budgetFraction: 1 });
    host = await startHost({ entry: entries, appHookData: rewrapAppHookData(rewrap) });
    await host.client.startNew(PARENT, { instanceId: "crashy", input: request(fx, { maxSlots: 4, sliceMs: 500 }) });
    let done = 0;
    while (done < 350) {
      await new Promise((r) => setTimeout(r, 100));
      done = await fx.store.countByKekVersion(fx.kekKeyId, fx.v2);
    }
    await host.crash();
    const callsAtCrash = fx.peer.admin.stats().unwrapCalls;
    done = await fx.store.countByKekVersion(fx.kekKeyId, fx.v2);
    await host.resume({ visibilityTimeoutMs: 0 });
    const st = await host.client.waitForCompletion("crashy", { timeoutMs: 90_000 });
    expect(st.runtimeStatus).toBe("Completed");
    const after = fx.peer.admin.stats().unwrapCalls - callsAtCrash;
    // Work abandoned at the crash (at most one slice of unwraps) may be redone; finished ranges are not.
    expect(after).toBeLessThanOrEqual(total - done + 0.2 * total);
    expect(after).toBeLessThan(total - 200);
    expect(await fx.check()).toEqual({ byVersion: { [fx.v2]: total }, mismatches: 0 });
  });
});

describe("rewrap history", () => {
  it("does not grow with the number of DEKs: twice the DEKs, the same largest history", async () => {
    const largest: number[] = [];
    for (const perTenant of [60, 120]) {
      fx = await fixture(4, perTenant);
      const rewrap: RewrapDeps = fx.deps();
      host = await startHost({ entry: entries, appHookData: rewrapAppHookData(rewrap), clock: new ManualClock("2026-03-01T00:00:00Z") });
      const { out } = await run(host, `h${perTenant}`, request(fx, { dekBatch: 10, rangesPerEpisode: 8, maxSlots: 4 }));
      expect(out.rewrapped).toBe(4 * perTenant);
      largest.push(await maxHistory(host));
      await host.stop();
      host = undefined;
      await fx.stop();
      fx = undefined;
    }
    expect(largest[1]).toBeLessThanOrEqual(largest[0]! * 1.2);
  });
});
