// The policyTimer function on the host: due rotations start once per slot, windows and freezes
// hold, expiry warnings arrive once per threshold, tenants' DEKs rotate through one bounded fan-out.
import { afterEach, describe, expect, it } from "vitest";
import { dekFanOutInstanceId } from "../../../lib/api/timer";
import { chain, fireTimerAndSettle, seedKey, startApiHost, T0, VAULT, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const DAY = 86_400_000;
const monthly = (extra: Record<string, unknown> = {}) => ({ tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D", ...extra });

async function lockHolders(api: ApiHost, keyId: string): Promise<string[]> {
  return (await chain(api.mem, keyId)).filter((e) => e.type === "LockAcquired").map((e) => e.rotationId!);
}

describe("policy timer", () => {
  it("fired twice in one slot (the second past due) starts one rotation", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "monthly", ...monthly() }, undefined);
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "monthly", lastRotatedAt: new Date(Date.parse(T0) - 40 * DAY).toISOString() });
    // Back to back on purpose (a timer may fire again before the first firing's work is picked up):
    // whatever the second firing sees of the first's rotation (not yet started, or holding the key's
    // lock), it starts no second one.
    await h.host.fireTimer("policyTimer");
    await h.host.fireTimer("policyTimer", { isPastDue: true });
    await h.host.idle();
    const holders = await lockHolders(h, keyId);
    expect(holders).toHaveLength(1);
    expect(holders[0]).toMatch(/^kek:demo-vault\/tenant-kek@2026-/);
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(2);
    await fireTimerAndSettle(h);
    expect(await lockHolders(h, keyId)).toHaveLength(1);
  });

  it("a freeze holds a due rotation back until it ends", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "frozen", ...monthly({ freezes: [{ from: "2026-02-25T00:00:00Z", to: "2026-03-05T00:00:00Z", reason: "quarter close" }] }) }, undefined);
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "frozen", lastRotatedAt: new Date(Date.parse(T0) - 40 * DAY).toISOString() });
    await fireTimerAndSettle(h);
    expect(await lockHolders(h, keyId)).toHaveLength(0);
    const plan = (await h.call("GET", "/api/plan?horizon=P30D", { as: ["audrey", "KeyRotation.Auditor"] })).json();
    expect(plan.items[0]).toMatchObject({ keyId, reason: "frozen", dueNow: false, frozenUntil: "2026-03-05T00:00:00.000Z" });
    h.clock.set("2026-03-05T00:15:00Z");
    await fireTimerAndSettle(h);
    expect(await lockHolders(h, keyId)).toHaveLength(1);
  });

  it("a maintenance window holds a due rotation until it opens", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "nightly", ...monthly({ windows: [{ cron: "0 2 * * *", timeZone: "UTC", duration: "PT1H" }] }) }, undefined);
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "nightly", lastRotatedAt: new Date(Date.parse(T0) - 40 * DAY).toISOString() });
    await fireTimerAndSettle(h);
    h.clock.set("2026-03-01T01:45:00Z");
    await fireTimerAndSettle(h);
    expect(await lockHolders(h, keyId)).toHaveLength(0);
    h.clock.set("2026-03-01T02:15:00Z");
    await fireTimerAndSettle(h);
    expect(await lockHolders(h, keyId)).toHaveLength(1);
  });

  it("expiry warnings at 30, 7 and 1 days arrive exactly once each, however often the timer fires", async () => {
    h = await startApiHost();
    const expiresAt = new Date(Date.parse(T0) + 40 * DAY).toISOString();
    const { keyId } = await seedKey(h.mem, "kek", "unmanaged-schedule", {}, expiresAt);
    for (let day = 0; day < 40; day++) {
      await fireTimerAndSettle(h);
      await fireTimerAndSettle(h, { isPastDue: day % 5 === 0 });
      h.clock.advance(DAY / 2);
      await fireTimerAndSettle(h);
      h.clock.advance(DAY / 2);
    }
    const warnings = (await chain(h.mem, keyId)).filter((e) => e.type === "ExpiryWarning");
    expect(warnings.map((e) => e.details?.threshold)).toEqual(["P30D", "P7D", "P1D"]);
    const events = h.mem.events.messages.filter((m) => m.subject === "ExpiryWarning");
    expect(events.map((m) => m.body.details?.threshold)).toEqual(["P30D", "P7D", "P1D"]);
    expect(events.every((m) => m.body.guidance.recommendedAction.includes(keyId))).toBe(true);
  });

  it("starts one bounded DEK fan-out per slot for the tenants whose DEKs are due, once", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "dek-quarterly", tenant: "platform", kinds: ["dek"], schedule: { every: "P90D" }, expiresAfter: "P200D" }, undefined);
    for (const t of ["platform"]) {
      await h.mem.rotation.inventory.put({ keyId: `dek:${t}`, kind: "dek", tenant: t, policyId: "dek-quarterly", versions: [], lastRotatedAt: new Date(Date.parse(T0) - 100 * DAY).toISOString() }, undefined);
    }
    await fireTimerAndSettle(h);
    await fireTimerAndSettle(h);
    const instances = await h.host.client.getStatus(dekFanOutInstanceId(new Date(Date.parse(T0) - 10 * DAY).toISOString()));
    // The fan-out pages the tenants index itself: its input never carries the tenants.
    expect(instances?.input).toMatchObject({ concurrency: 8, trigger: "schedule" });
    expect(instances?.input).not.toHaveProperty("tenants");
  });
});
