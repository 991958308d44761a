// The policy timer's part of the branch-key schedule, over the memory API: what it hands the
// rotations' starter for a KEK whose primary branch keys are due (the ages come through the API's
// branchKeys port, which the app wires to the branch-key store), and when it holds back.
import { describe, expect, it } from "vitest";
import type { ApiServices } from "../../../lib/api/ports";
import { memoryApiServices } from "../../../lib/api/services";
import { runPolicyTimer, TIMER_ACTOR } from "../../../lib/api/timer";
import type { BranchKeyAge } from "../../../lib/domain/planner";
import { RotationInputSchema, instanceIdFor } from "../../../lib/orchestration/workflows";

const NOW = new Date("2026-03-01T00:00:00Z");
const DAY = 86_400_000;
const VAULT = "demo-vault";
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

/** A durable client that records what is started; orchestrations never reach a lock decision. */
class RecordingClient {
  readonly started = new Map<string, unknown>();
  startNew(_name: string, o: { instanceId: string; input: unknown }): Promise<string> {
    if (this.started.has(o.instanceId)) return Promise.reject(new Error("409 instance exists"));
    this.started.set(o.instanceId, o.input);
    return Promise.resolve(o.instanceId);
  }
  getStatus(instanceId: string): Promise<{ runtimeStatus: string; customStatus: unknown } | undefined> {
    return Promise.resolve(this.started.has(instanceId) ? { runtimeStatus: "Running", customStatus: { lock: "pending" } } : undefined);
  }
}

async function setUp(ages: Record<string, BranchKeyAge[] | Error>, keks: { name: string; rotatedDaysAgo: number }[]): Promise<{ services: ApiServices; client: RecordingClient }> {
  const api = memoryApiServices({ clock: { now: () => NOW }, vaults: [VAULT] });
  await api.policies.put({ policyId: "kek-branches", tenant: "platform", kinds: ["kek"], schedule: { every: "P90D" }, expiresAfter: "P200D", branchKeys: { every: "P30D" } }, undefined);
  for (const k of keks) {
    const v1 = api.rotation.vault.seedKey(VAULT, k.name, "wrap");
    await api.rotation.inventory.put({
      keyId: `kek:${VAULT}/${k.name}`, kind: "kek", tenant: "platform", policyId: "kek-branches", primaryVersion: v1,
      versions: [{ version: v1, state: "primary", createdAt: ago(k.rotatedDaysAgo) }], lastRotatedAt: ago(k.rotatedDaysAgo),
    }, undefined);
  }
  const services: ApiServices = {
    ...api.services,
    branchKeys: {
      primaries: (kekKeyId) => {
        const a = ages[kekKeyId] ?? [];
        return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
      },
    },
  };
  return { services, client: new RecordingClient() };
}

describe("policy timer: scheduled branch-key rotation", () => {
  it("hands the starter one schedule-triggered rotation of the KEK naming only its due branch keys, and none for a KEK whose branch keys are fresh", async () => {
    const due = `kek:${VAULT}/due-kek`;
    const fresh = `kek:${VAULT}/fresh-kek`;
    const { services, client } = await setUp({
      [due]: [{ branchId: "s2-00000", version: 3, createdAt: ago(40) }, { branchId: "s2-00001", version: 1, createdAt: ago(5) }],
      [fresh]: [{ branchId: "s2-00000", version: 1, createdAt: ago(2) }],
    }, [{ name: "due-kek", rotatedDaysAgo: 10 }, { name: "fresh-kek", rotatedDaysAgo: 10 }]);
    const report = await runPolicyTimer(services, client, { log: () => {} });
    const rotationId = `${due}@branchKeys:${new Date(Date.parse(ago(40)) + 30 * DAY).toISOString()}`;
    expect(report.branchRotations).toEqual([{ rotationId, keyId: due, branchIds: 1, status: "started" }]);
    expect([...client.started.keys()]).toEqual([instanceIdFor(rotationId)]);
    const input = RotationInputSchema.parse(client.started.get(instanceIdFor(rotationId)));
    expect(input).toMatchObject({ rotationId, keyId: due, trigger: "schedule", actor: TIMER_ACTOR, mode: "normal", branchKeys: { branchIds: ["s2-00000"] } });
    expect(input.reason).toContain("older than P30D");
    expect(report.failures).toEqual([]);

    // Fired again in the same due period: the same instance, nothing new.
    const again = await runPolicyTimer(services, client, { log: () => {} });
    expect(again.branchRotations).toEqual([{ rotationId, keyId: due, branchIds: 1, status: "alreadyRunning" }]);
    expect(client.started.size).toBe(1);
  });

  it("leaves the branch keys of a KEK due for its own rotation to a later run (that rotation holds the lock)", async () => {
    const keyId = `kek:${VAULT}/overdue-kek`;
    const { services, client } = await setUp({ [keyId]: [{ branchId: "s2-00000", version: 1, createdAt: ago(40) }] }, [{ name: "overdue-kek", rotatedDaysAgo: 100 }]);
    const report = await runPolicyTimer(services, client, { log: () => {} });
    expect(report.started).toHaveLength(1);
    expect(report.branchRotations).toEqual([]);
    expect([...client.started.values()].map((i) => (i as { branchKeys?: unknown }).branchKeys)).toEqual([undefined]);
  });

  it("reports a KEK whose branch keys cannot be read as a failure and still starts the other KEKs' branch-key rotations", async () => {
    const broken = `kek:${VAULT}/broken-kek`;
    const ok = `kek:${VAULT}/ok-kek`;
    const { services, client } = await setUp({
      [broken]: new Error("[keyrotor] [tables] list branch keys: 503"),
      [ok]: [{ branchId: "s2-00001", version: 1, createdAt: ago(31) }],
    }, [{ name: "broken-kek", rotatedDaysAgo: 10 }, { name: "ok-kek", rotatedDaysAgo: 10 }]);
    const report = await runPolicyTimer(services, client, { log: () => {} });
    expect(report.failures).toEqual([{ keyId: broken, message: expect.stringContaining("503") }]);
    expect(report.branchRotations.map((r) => r.keyId)).toEqual([ok]);
  });
});
