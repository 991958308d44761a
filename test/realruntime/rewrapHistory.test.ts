// Issue 16 on the real Durable extension: a KEK rewrap of 20,000 DEKs keeps every orchestration's
// history bounded. The history is counted where DurableTask.AzureStorage keeps it, in the task hub's
// History table on Azurite (one row per history event, partitioned by instance id, each row naming
// its execution), and held to the bound dev/host's rewrap test holds (test/integration/rewrap/
// rewrap.test.ts, "does not grow with the number of DEKs"): more than three times the DEKs, at most
// 1.2 times the largest history of any execution. Both sizes are past the point where the rotation
// wakes a fixed number of times per pass (RewrapOptions targetLegs legs of at least minLegDeks = 1,000
// DEKs): below it a smaller rewrap has fewer legs, and so a smaller parent history.
import { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, expect, it } from "vitest";
import { rotationClientOf } from "../../lib/api/http";
import { dekIdFor } from "../../lib/envelope/dekRecord";
import { startRotation } from "../../lib/orchestration/start";
import type { RotationOutput } from "../../lib/orchestration/workflows";
import { VAULT } from "../e2e/rotation/stack";
import { describeRealRuntime, reportSeconds, seedOwnKek, startRealApp, waitForEnd, type RealApp } from "./realRuntimeSupport";

const HUB = "rewraphistoryhub";

interface HistoryShape {
  /** Rows of the largest execution's history (sentinel rows excluded). */
  largest: number;
  /** The three largest executions, "rows instanceId". */
  top: string[];
  instances: number;
  executions: number;
}

describeRealRuntime("history of a 20,000-DEK rewrap", () => {
  let app: RealApp;
  beforeAll(async () => {
    app = await startRealApp({ taskHub: HUB });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  /** Per-execution history sizes of the instances whose id holds `key` (the rotation and its
   * sub-orchestrations carry the key's name), read from the History table. */
  async function historyOf(key: string): Promise<HistoryShape> {
    const table = TableClient.fromConnectionString(app.rt.azurite.connectionString, `${HUB}History`, { allowInsecureConnection: true });
    const rows = new Map<string, number>();
    const instances = new Set<string>();
    for await (const e of table.listEntities<{ ExecutionId?: string }>({ queryOptions: { select: ["PartitionKey", "RowKey", "ExecutionId"] } })) {
      if (!e.partitionKey?.includes(key) || e.rowKey === "sentinel") continue;
      instances.add(e.partitionKey);
      const k = `${e.partitionKey}\u0000${e.ExecutionId ?? ""}`;
      rows.set(k, (rows.get(k) ?? 0) + 1);
    }
    const sorted = [...rows].sort((a, b) => b[1] - a[1]);
    return { largest: sorted[0]?.[1] ?? 0, top: sorted.slice(0, 3).map(([k, n]) => `${n} ${k.split("\u0000")[0]}`), instances: instances.size, executions: rows.size };
  }

  async function rotate(tenants: number, perTenant: number, name: string): Promise<HistoryShape> {
    const seeded = await seedOwnKek(app, tenants, perTenant, name);
    const started = await startRotation(rotationClientOf(app.client), { rotationId: `${seeded.keyId}@manual:history`, keyId: seeded.keyId, trigger: "manual", actor: "alice" });
    const end = await waitForEnd(app.client, started.instanceId, 900_000);
    expect(end.runtimeStatus, `${JSON.stringify(end.output)}\n${app.rt.output().slice(-3000)}`).toBe("Completed");
    const out = end.output as RotationOutput;
    const total = tenants * perTenant;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect(out.counts).toMatchObject({ rewrapped: total, total, remainingOld: 0 });
    expect(await app.stack.dekStore.countByKekVersion(seeded.keyId, out.versionAfter!)).toBe(total);
    // A sample of the DEKs unwraps to its plaintext under the new version (all of them: the 5 x 200 test).
    for (const [tenant, mine] of [...seeded.plaintexts].slice(0, 3)) {
      for (const n of [1, perTenant]) {
        const dek = await app.stack.dekStore.get(tenant, dekIdFor(n));
        expect(dek?.kekVersion).toBe(out.versionAfter);
        expect((await app.deps.vault.unwrapKey(VAULT, name, dek!.kekVersion, Buffer.from(dek!.wrapped, "base64url"))).equals(mine.get(n)!)).toBe(true);
      }
    }
    return historyOf(name);
  }

  it("rewraps 20,000 DEKs with no execution's history larger than 1.2 times that of a 6,000-DEK rewrap", async () => {
    const t0 = Date.now();
    const small = await rotate(6, 1000, "history-6k");
    const t1 = Date.now();
    const large = await rotate(20, 1000, "history-20k");
    process.stderr.write(`[keyrotor] [durable-runtime] history rows of the largest execution: 6,000 DEKs ${small.largest} (${small.instances} instances, ${small.executions} executions; ${small.top.join(", ")}); 20,000 DEKs ${large.largest} (${large.instances} instances, ${large.executions} executions; ${large.top.join(", ")})\n`);
    expect(small.largest).toBeGreaterThan(0);
    expect(large.largest).toBeLessThanOrEqual(small.largest * 1.2);
    process.stderr.write(`[keyrotor] [durable-runtime] rewrap of 6,000 DEKs (seeding included): ${Math.round((t1 - t0) / 1000)} s on the real Durable extension\n`);
    reportSeconds("rewrap of 20,000 DEKs (seeding included)", t1);
  }, 1_200_000);
});
