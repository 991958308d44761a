// Counts after a crash mid-rewrap: a range activity that re-wrapped DEKs and then lost its result
// (the process died before the result reached history) runs again and finds those DEKs already
// under the new version. The rotation's final counts — its output, the status view, the Completed
// ledger entry and the RotationCompleted event — must still say every DEK is under the new version.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { describe, expect, it } from "vitest";
import { app } from "@azure/functions";
import { DURABLE } from "../../../lib/orchestration/names";
import { rotationStatusView } from "../../../lib/orchestration/status";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { checkDeks, drainEvents, ledgerEntries, seedKekWithDeks, stackSuite } from "./stack";

const suite = stackSuite();

describe("rewrap counts after a crash", () => {
  it("a range whose result was lost after it re-wrapped DEKs: the completed rotation still reports every DEK as under the new version (output, status, ledger, event)", async () => {
    const s = await suite.start();
    const seeded = await seedKekWithDeks(s, suite.peers, 4, 250, "count-kek");
    let lost = 0;
    // After the first range that re-wrapped DEKs, the process dies: the work is in the table, its result is not in history.
    const post = app.hook.postInvocation(async (c) => {
      if (lost > 0 || c.error || c.invocationContext.functionName !== DURABLE.activities.rewrapRange) return;
      const r = c.result as { cursors?: unknown; rewrapped?: number } | undefined;
      if (!r || !Array.isArray(r.cursors) || !r.rewrapped) return;
      lost = r.rewrapped;
      await s.host.crash();
      setImmediate(() => void s.host.resume({ visibilityTimeoutMs: 0 }));
    });
    try {
      const rotationId = `${seeded.keyId}@manual:count-crash`;
      const id = instanceIdFor(rotationId);
      await s.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: id, input: { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 100 } });
      const done = await s.host.client.waitForCompletion(id, { timeoutMs: 90_000 });
      const out = done.output as RotationOutput;
      expect(out.outcome, JSON.stringify(out)).toBe("completed");
      expect(lost).toBeGreaterThan(0);
      const check = await checkDeks(s, seeded);
      expect(check.mismatches).toBe(0);
      expect([...check.versions]).toEqual([out.versionAfter]);
      expect(check.count).toBe(1000);

      // rewrapped = DEKs of the pass now under the new version, whoever wrote them; the split says how.
      expect(out.counts).toMatchObject({ rewrapped: 1000, total: 1000, remainingOld: 0 });
      expect(out.counts?.alreadyCurrent).toBeGreaterThanOrEqual(lost);
      expect((out.counts?.rewrappedNow ?? 0) + (out.counts?.alreadyCurrent ?? 0)).toBe(1000);

      expect(rotationStatusView(rotationId, done).progress).toMatchObject({ rewrapped: 1000, total: 1000 });

      const entries = (await ledgerEntries(s, seeded.keyId)) as { type: string; counts?: Record<string, number> }[];
      const completed = entries.filter((e) => e.type === "Completed");
      expect(completed).toHaveLength(1);
      expect(completed[0]!.counts).toMatchObject({ rewrapped: 1000, total: 1000 });
      const rewrapDone = entries.find((e) => e.type === "RewrapCompleted");
      expect(rewrapDone?.counts).toMatchObject({ rewrapped: 1000, total: 1000 });

      const events = (await drainEvents(s)).map((e) => e.body as { type: string; counts?: Record<string, number> });
      const finished = events.filter((e) => e.type === "RotationCompleted");
      expect(finished).toHaveLength(1);
      expect(JSON.stringify(finished[0])).toContain('"rewrapped":1000');
    } finally {
      post.dispose();
    }
  });
});
