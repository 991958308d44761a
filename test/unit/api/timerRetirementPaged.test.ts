// The policy timer runs under functionTimeout: its retirement pre-check reads one bounded leg of the
// reference count per KEK per run, never the whole DEK table (minutes at 1M DEKs). The retirement
// orchestration, which counts in legs, is the proof for whatever that leg could not settle.
import { describe, expect, it } from "vitest";
import type { ReferenceCounter } from "../../../lib/api/ports";
import { memoryApiServices } from "../../../lib/api/services";
import { runPolicyTimer, TIMER_REFERENCE_ROWS } from "../../../lib/api/timer";
import { dekRecord } from "../../../lib/envelope/dekRecord";

const NOW = new Date("2026-06-01T00:00:00Z");
const DAY = 86_400_000;
const ago = (days: number): string => new Date(NOW.getTime() - days * DAY).toISOString();

/** A durable client that records what it starts (and never reaches a lock decision). */
class RecordingClient {
  readonly started: { name: string; instanceId: string; input: unknown }[] = [];
  startNew(name: string, o: { instanceId: string; input?: unknown }): Promise<string> {
    this.started.push({ name, instanceId: o.instanceId, input: o.input });
    return Promise.resolve(o.instanceId);
  }
  getStatus(instanceId: string): Promise<{ runtimeStatus: string; customStatus: unknown } | undefined> {
    return Promise.resolve(this.started.some((s) => s.instanceId === instanceId) ? { runtimeStatus: "Running", customStatus: { lock: "pending" } } : undefined);
  }
}

/** A counter over a DEK table too big for one leg, recording every read. */
class CountingReferences implements ReferenceCounter {
  wholeCounts = 0;
  readonly legs: { kekKeyId: string; continuation?: string; maxRows: number }[] = [];
  constructor(private readonly leg: { byVersion: Record<string, number>; continuation?: string }) {}
  countByKekVersion(): Promise<Record<string, number>> {
    this.wholeCounts++;
    return Promise.resolve({ v2: 1_000_000 });
  }
  countByKekVersionPage(kekKeyId: string, opts: { continuation?: string; maxRows: number }): Promise<{ byVersion: Record<string, number>; continuation?: string }> {
    this.legs.push({ kekKeyId, maxRows: opts.maxRows, ...(opts.continuation ? { continuation: opts.continuation } : {}) });
    return Promise.resolve(structuredClone(this.leg));
  }
}

/** `keys` KEKs whose v1 was demoted 40 days ago (overlap P30D: eligible by time), v2 primary. */
async function setup(keys: number, references: CountingReferences | undefined) {
  const api = memoryApiServices({ clock: { now: () => NOW } });
  await api.policies.put({ policyId: "q", tenant: "platform", kinds: ["kek"], schedule: { every: "P90D" }, expiresAfter: "P400D", overlap: "P30D" }, undefined);
  const keyIds: string[] = [];
  for (let i = 0; i < keys; i++) {
    const keyId = `kek:vault1/kek-${i}`;
    keyIds.push(keyId);
    await api.rotation.inventory.put({
      keyId, kind: "kek", tenant: "platform", policyId: "q", primaryVersion: "v2", lastRotatedAt: ago(40),
      versions: [
        { version: "v1", state: "secondary", createdAt: ago(130), demotedAt: ago(40) },
        { version: "v2", state: "primary", createdAt: ago(40) },
      ],
    }, undefined);
  }
  if (references) api.services.references = references;
  return { api, keyIds };
}

describe("the timer's retirement pre-check", () => {
  it("reads one bounded leg of the reference count per KEK per run and never counts the whole DEK table", async () => {
    const refs = new CountingReferences({ byVersion: { v2: TIMER_REFERENCE_ROWS }, continuation: "more" });
    const { api, keyIds } = await setup(3, refs);
    const client = new RecordingClient();
    const report = await runPolicyTimer(api.services, client, { log: () => {} });
    expect(report.failures).toEqual([]);
    expect(refs.wholeCounts).toBe(0);
    expect(refs.legs.map((l) => l.kekKeyId).sort()).toEqual(keyIds);
    for (const leg of refs.legs) expect(leg).toEqual({ kekKeyId: leg.kekKeyId, maxRows: TIMER_REFERENCE_ROWS });
    // Unproven in one leg: handed to the retirement orchestration, whose count in legs decides.
    expect(report.retirements.map((r) => r.keyId).sort()).toEqual(keyIds);
    expect(JSON.stringify(client.started[0]?.input)).toContain("the retirement counts them all");
  });

  it("hands no version to retirement that the leg already saw referenced", async () => {
    const refs = new CountingReferences({ byVersion: { v1: 3, v2: 9_000 }, continuation: "more" });
    const { api } = await setup(1, refs);
    const client = new RecordingClient();
    const report = await runPolicyTimer(api.services, client, { log: () => {} });
    expect(refs.legs).toHaveLength(1);
    expect(report.retirements).toEqual([]);
    expect(client.started).toEqual([]);
  });

  it("takes a leg that reaches the end of the table as the proof that no references remain", async () => {
    const refs = new CountingReferences({ byVersion: { v2: 42 } });
    const { api, keyIds } = await setup(1, refs);
    const client = new RecordingClient();
    const report = await runPolicyTimer(api.services, client, { log: () => {} });
    expect(report.retirements).toMatchObject([{ keyId: keyIds[0], versions: ["v1"], status: "started" }]);
    expect(JSON.stringify(client.started[0]?.input)).toContain("no references remain");
  });

  it("in memory (the local host) reads the whole small store as its one leg: a referenced version stays, an unreferenced one is retired", async () => {
    const { api, keyIds } = await setup(2, undefined);
    api.rotation.deks.insert(dekRecord({ tenant: "contoso", dekVersion: 1, state: "primary", kekKeyId: keyIds[0]!, kekVersion: "v1", wrapped: Buffer.from("AA==", "base64"), createdAt: ago(50) }));
    const client = new RecordingClient();
    const report = await runPolicyTimer(api.services, client, { log: () => {} });
    expect(report.retirements.map((r) => r.keyId)).toEqual([keyIds[1]]);
  });
});
