// keyrotor as Flex Consumption runs it: the API on the HTTP instance, the rotation engine on the
// durable instance, the policy timer on its own; they share only storage (support.ts). A rotation
// requested through the API, or started by the timer, runs where the durable functions run.
import { afterEach, describe, expect, it } from "vitest";
import type { DevHost } from "../../../dev/host";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { AUDITOR, OPERATOR, seedKey, startApiHost, T0, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Episodes, activity executions and entity batches the instance ran. */
function durableWork(host: DevHost): { episodes: number; activities: number; entityBatches: number } {
  const activities = host.functions.filter((f) => f.trigger === "activityTrigger").reduce((n, f) => n + host.activityExecutions(f.name), 0);
  return { episodes: host.episodes().length, activities, entityBatches: host.entityBatches() };
}

const none = { episodes: 0, activities: 0, entityBatches: 0 };

describe("keyrotor on separate HTTP, durable and timer instances", () => {
  it("a rotation requested on the HTTP instance completes on the durable instance; the HTTP instance runs no episode, activity or entity batch", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    expect((await h.http.client.waitForCompletion(instanceIdFor(r.json().rotationId), { timeoutMs: 30_000 })).runtimeStatus).toBe("Completed");
    const view = await h.call("GET", `/api/rotations/${r.json().rotationId}`, { as: AUDITOR });
    expect(view.json()).toMatchObject({ phase: "completed", runtimeStatus: "Completed" });
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    expect(durableWork(h.http)).toEqual(none);
    expect(durableWork(h.timer)).toEqual(none);
    const work = durableWork(h.durable);
    expect(work.episodes).toBeGreaterThan(0);
    expect(work.activities).toBeGreaterThan(0);
    expect(work.entityBatches).toBeGreaterThan(0);
  });

  it("a rotation the timer instance starts runs on the durable instance, and the API on the HTTP instance reports it", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D" }, undefined);
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "monthly", lastRotatedAt: new Date(Date.parse(T0) - 40 * 86_400_000).toISOString() });
    await h.timer.fireTimer("policyTimer");
    await h.host.idle();
    const list = (await h.call("GET", `/api/rotations?keyId=${encodeURIComponent(keyId)}`, { as: AUDITOR })).json();
    expect(list.rotations).toHaveLength(1);
    expect(list.rotations[0]).toMatchObject({ phase: "completed", trigger: "schedule" });
    expect(durableWork(h.timer)).toEqual(none);
    expect(durableWork(h.http)).toEqual(none);
    expect(durableWork(h.durable).episodes).toBeGreaterThan(0);
  });

  it("the HTTP instance serves no timer and the durable instance no API: each runs only its own functions", async () => {
    h = await startApiHost();
    await expect(h.http.fireTimer("policyTimer")).rejects.toThrow(/no timer role/);
    expect((await h.durable.invokeHttp("GET", "/api/health")).status).toBe(404);
    expect((await h.http.invokeHttp("GET", "/api/health")).status).toBe(200);
  });
});
