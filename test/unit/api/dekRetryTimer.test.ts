// The policy timer and a failed scheduled DEK rotation: "failures stop progress". The timer never
// re-runs it under the same slot id; it alerts once (error log, ledger entry, event) and waits for
// a person, who re-runs it by hand.
import { describe, expect, it } from "vitest";
import { memoryApiServices } from "../../../lib/api/services";
import { runPolicyTimer } from "../../../lib/api/timer";
import { DURABLE } from "../../../lib/orchestration/names";

const NOW = new Date("2026-03-01T00:00:00Z");
const DAY = 86_400_000;

/** A durable client whose instances finish as soon as they start. */
class FakeClient {
  readonly started: { name: string; instanceId: string; input: unknown }[] = [];
  readonly status = new Map<string, { runtimeStatus: string; output?: unknown }>();
  startNew(name: string, o: { instanceId: string; input: unknown }): Promise<string> {
    this.started.push({ name, ...o });
    this.status.set(o.instanceId, { runtimeStatus: "Completed", output: {} });
    return Promise.resolve(o.instanceId);
  }
  getStatus(instanceId: string): Promise<{ runtimeStatus?: string; output?: unknown } | undefined> {
    return Promise.resolve(this.status.get(instanceId));
  }
}

async function setup(tenants: string[]) {
  const api = memoryApiServices({ clock: { now: () => NOW } });
  for (const t of tenants) {
    await api.policies.put({ policyId: "dek-quarterly", tenant: t, kinds: ["dek"], schedule: { every: "P90D" }, expiresAfter: "P200D" }, undefined);
    await api.rotation.inventory.put({ keyId: `dek:${t}`, kind: "dek", tenant: t, policyId: "dek-quarterly", versions: [], lastRotatedAt: new Date(NOW.getTime() - 100 * DAY).toISOString() }, undefined);
  }
  const client = new FakeClient();
  const lines: string[] = [];
  const tick = () => runPolicyTimer(api.services, client, { log: (l) => lines.push(l) });
  return { api, client, lines, tick };
}

/** What the rotation workflow records when a rotation fails (recordStep `<rotationId>#failed`). */
async function failRotation(api: ReturnType<typeof memoryApiServices>, tenant: string, slot: string): Promise<void> {
  const rotationId = `dek:${tenant}@${slot}`;
  await api.rotation.ledger.append({ keyId: `dek:${tenant}`, entryId: `${rotationId}#failed`, type: "Failed", rotationId, actor: "system:timer", error: { code: "DependencyUnavailable", message: "vault down" } });
}

async function entries(api: ReturnType<typeof memoryApiServices>, keyId: string) {
  const out = [];
  for await (const e of api.rotation.ledger.entries(keyId)) out.push(e);
  return out;
}

describe("policy timer and a failed scheduled DEK rotation", () => {
  it("starts the slot's fan-out without a tenant list (it pages the tenants index itself)", async () => {
    const { client, tick } = await setup(["contoso"]);
    await tick();
    expect(client.started).toHaveLength(1);
    expect(client.started[0]).toMatchObject({ name: DURABLE.orchestrators.dekFanOut });
    expect(client.started[0]!.input).not.toHaveProperty("tenants");
  });

  it("does not re-run a failed rotation on later ticks; it alerts once (error log, Aborted ledger entry, RotationFailed event) and waits for a person", async () => {
    const { api, client, lines, tick } = await setup(["contoso"]);
    await tick();
    const slot = (client.started[0]!.input as { slot: string }).slot;
    await failRotation(api, "contoso", slot);
    const rotationId = `dek:contoso@${slot}`;

    const second = await tick();
    const third = await tick();

    expect(client.started).toHaveLength(1);
    expect(second.awaitingPerson).toEqual([{ rotationId, keyId: "dek:contoso", alerted: true }]);
    expect(third.awaitingPerson).toEqual([{ rotationId, keyId: "dek:contoso", alerted: false }]);
    expect(second.dekFanOuts).toEqual([expect.objectContaining({ status: "awaitingPerson" })]);
    const alerts = (await entries(api, "dek:contoso")).filter((e) => e.type === "Aborted");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rotationId, details: expect.objectContaining({ manualInterventionRequired: true }) });
    expect(api.events.messages.filter((m) => m.subject === "RotationFailed" && m.body.rotationId === rotationId)).toHaveLength(1);
    expect(lines.filter((l) => l.includes("manual intervention needed") && /error/i.test(l))).not.toHaveLength(0);
  });

  it("restarts the slot's fan-out for a tenant still due that did not fail (refused, new), while the failed one stays with a person", async () => {
    const { api, client, tick } = await setup(["contoso", "fabrikam"]);
    await tick();
    const slot = (client.started[0]!.input as { slot: string }).slot;
    await failRotation(api, "contoso", slot);

    const second = await tick();

    expect(client.started).toHaveLength(2);
    expect(second.awaitingPerson.map((a) => a.keyId)).toEqual(["dek:contoso"]);
  });
});
