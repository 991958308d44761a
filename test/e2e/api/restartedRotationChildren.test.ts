// A rotation restarted under its instance id (a new execution, e.g. after its parent was terminated
// by hand: terminating a parent does not stop its sub-orchestrations) must never reuse the id of a
// rewrap leg its earlier run left running. Azure Storage discards the start of a running instance,
// so with a reused id the new run would wait forever for a leg that never starts.
import { afterEach, describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationRequest } from "../../../lib/orchestration/workflows";
import { seedKey, startApiHost, T0, VAULT, type ApiHost } from "./support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
let openGate: (() => void) | undefined;
afterEach(async () => {
  openGate?.();
  openGate = undefined;
  await h?.stop();
  h = undefined;
});

async function runningUnder(api: ApiHost, prefix: string): Promise<{ instanceId: string; parentExecution?: unknown }[]> {
  const r = await fetch(`${api.host.url}/runtime/webhooks/durabletask/instances?runtimeStatus=Running,Pending&code=${api.host.durableWebhookKey}`);
  const all = (await r.json()) as { instanceId: string }[];
  return all.filter((s) => s.instanceId.startsWith(prefix));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("child instance ids carry the execution", () => {
  it("a rotation restarted under the same instance id starts new rewrap legs beside the ones its first run left running", async () => {
    h = await startApiHost();
    const api = h;
    const { keyId, v1 } = await seedKey(api.mem, "kek", "tenant-kek");
    const vault = api.mem.rotation.vault;
    for (let i = 0; i < 3; i++) {
      const wrapped = await vault.wrapKey(VAULT, "tenant-kek", v1, Buffer.alloc(32, i + 1));
      api.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: i + 1, dekId: `d${i}`, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
    }
    // Every rewrap unwrap (under v1) waits on a gate: both runs stay inside their first rewrap leg
    // (the validation probe under the new version goes through).
    const unwrap = vault.unwrapKey.bind(vault);
    const gate = new Promise<void>((_, reject) => (openGate = () => reject(new Error("released"))));
    gate.catch(() => undefined);
    vault.unwrapKey = async (...args) => {
      if (args[2] === v1) await gate;
      return unwrap(...args);
    };
    const rotationId = `${keyId}@manual:restart`;
    const parent = instanceIdFor(rotationId);
    const input: RotationRequest = { rotationId, keyId, trigger: "manual", actor: "olivia", reason: "restart" };
    await api.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: parent, input });
    const [first] = await until("the first run's leg", async () => {
      const legs = await runningUnder(api, `${parent}~`);
      return legs.length === 1 ? legs : undefined;
    });

    await api.host.client.terminate(parent, "restarted by hand");
    await until("the parent to stop", async () => ((await api.host.client.getStatus(parent))?.runtimeStatus === "Terminated" ? true : undefined));
    // A restart is a later moment: the execution tag derives from the replay-safe current time.
    api.clock.advance(1_000);
    await api.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: parent, input });

    const legs = await until("a leg of the second run", async () => {
      const l = await runningUnder(api, `${parent}~`);
      return l.length === 2 ? l : undefined;
    });
    expect(legs.map((l) => l.instanceId)).toContain(first!.instanceId);
    expect(new Set(legs.map((l) => l.instanceId)).size).toBe(2);
    for (const l of legs) expect(l.instanceId).toMatch(new RegExp(`^${parent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}~[0-9a-f]{16}~rewrap~1~0$`));
    expect((await api.host.client.getStatus(parent))?.runtimeStatus).toBe("Running");
  });
});
