// The policy timer retires old versions: only after the overlap (signing keys: retainFor), only
// with no references left, once per version however often it fires.
import { afterEach, describe, expect, it } from "vitest";
import { retirementId } from "../../../lib/api/retirement";
import { DURABLE } from "../../../lib/orchestration/names";
import { instanceIdFor, type RotationRequest } from "../../../lib/orchestration/workflows";
import type { LedgerEntry } from "../../../lib/ports";
import { chain, fireTimerAndSettle, seedKey, startApiHost, T0, VAULT, type ApiHost } from "./support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const DAY = 86_400_000;
const at = (days: number, minutes = 0): string => new Date(Date.parse(T0) + days * DAY + minutes * 60_000).toISOString();

/** Seeds a key under a policy and lets the timer rotate it at T0: v1 becomes secondary. */
async function rotatedByTimer(api: ApiHost, kind: "kek" | "signing", policy: Record<string, unknown>): Promise<{ keyId: string; v1: string; name: string }> {
  await api.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: [kind], schedule: { every: "P30D" }, expiresAfter: "P120D", overlap: "P7D", ...policy }, undefined);
  const name = kind === "kek" ? "tenant-kek" : "token-signer";
  const { keyId, v1 } = await seedKey(api.mem, kind, name, { policyId: "monthly", lastRotatedAt: at(-40) });
  await fireTimerAndSettle(api);
  const key = (await api.mem.rotation.inventory.get(keyId))!.key;
  expect(key.versions.find((v) => v.version === v1)?.state).toBe("secondary");
  return { keyId, v1, name };
}

async function fireTwice(api: ApiHost, when: string): Promise<void> {
  api.clock.set(when);
  await fireTimerAndSettle(api);
  await fireTimerAndSettle(api, { isPastDue: true });
}

const retiredEntries = async (api: ApiHost, keyId: string): Promise<LedgerEntry[]> => (await chain(api.mem, keyId)).filter((e) => e.type === "Retired");
const enabled = async (api: ApiHost, name: string, version: string): Promise<boolean | undefined> =>
  (await api.mem.rotation.vault.listKeyVersions(VAULT, name)).find((v) => v.version === version)?.enabled;

describe("retirement by the policy timer", () => {
  it("does nothing before the overlap is over, then retires the old KEK version exactly once", async () => {
    h = await startApiHost();
    const { keyId, v1, name } = await rotatedByTimer(h, "kek", {});
    await fireTwice(h, at(6, 23 * 60));
    expect(await enabled(h, name, v1)).toBe(true);
    expect(await h.host.client.getStatus(instanceIdFor(retirementId(keyId, v1)))).toBeUndefined();

    await fireTwice(h, at(7, 15));
    await fireTwice(h, at(7, 30));
    expect(await enabled(h, name, v1)).toBe(false);
    expect((await h.mem.rotation.inventory.get(keyId))!.key.versions.find((v) => v.version === v1)?.state).toBe("retired");
    const retired = await retiredEntries(h, keyId);
    expect(retired).toHaveLength(1);
    expect(retired[0]).toMatchObject({ rotationId: retirementId(keyId, v1), versionBefore: v1, actor: "system:timer", counts: { references: 0 } });
    const locks = (await chain(h.mem, keyId)).filter((e) => e.type === "LockAcquired" && e.rotationId === retirementId(keyId, v1));
    expect(locks).toHaveLength(1);
    expect(h.mem.events.messages.filter((m) => m.subject === "Retired")).toHaveLength(1);
    expect((await h.call("GET", "/api/ledger/verify", { as: ["audrey", "KeyRotation.Auditor"] })).json().ok).toBe(true);
  });

  it("leaves an old KEK version enabled while a DEK still references it, and retires it once none does", async () => {
    h = await startApiHost();
    const { keyId, v1, name } = await rotatedByTimer(h, "kek", {});
    // A straggler the rewrap could not move (its wrapped bytes do not unwrap).
    h.mem.rotation.deks.insert(dekRecord({ tenant: "tenant0", dekVersion: 9002, dekId: "straggler", state: "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: Buffer.alloc(256, 1), createdAt: T0 }));
    await fireTwice(h, at(8));
    expect(await enabled(h, name, v1)).toBe(true);
    expect(await h.host.client.getStatus(instanceIdFor(retirementId(keyId, v1)))).toBeUndefined();
    expect(await retiredEntries(h, keyId)).toHaveLength(0);

    h.mem.rotation.deks.partitions.get("tenant0")!.delete("straggler");
    await fireTwice(h, at(9));
    expect(await enabled(h, name, v1)).toBe(false);
    expect(await retiredEntries(h, keyId)).toHaveLength(1);
  });

  it("starts no retirement while a rotation of the key holds its lock, and retires once the rotation is done", async () => {
    h = await startApiHost();
    const { keyId, v1, name } = await rotatedByTimer(h, "kek", {});
    h.clock.set(at(8));
    const slow = `${keyId}@manual:slow`;
    const input: RotationRequest = { rotationId: slow, keyId, trigger: "manual", actor: "olivia", reason: "slow rollout", propagationDelay: "PT1H" };
    await h.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(slow), input });
    await h.host.idle();
    await fireTwice(h, at(8, 5)); // inside the slow rotation's 15-minute lease
    expect(await enabled(h, name, v1)).toBe(true);
    expect((await h.host.client.getStatus(instanceIdFor(retirementId(keyId, v1))))?.output).toMatchObject({ outcome: "refused", heldBy: slow });

    h.clock.set(at(8, 75));
    expect((await h.host.client.waitForCompletion(instanceIdFor(slow), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    await fireTwice(h, at(8, 90));
    expect(await enabled(h, name, v1)).toBe(false);
    expect((await retiredEntries(h, keyId)).map((e) => e.versionBefore)).toEqual([v1]);
  });

  it("keeps an old signing version for retainFor, not just the overlap, then retires it and drops it from the JWKS", async () => {
    h = await startApiHost();
    const { keyId, v1, name } = await rotatedByTimer(h, "signing", { retainFor: "P30D" });
    await fireTwice(h, at(8));
    expect(await enabled(h, name, v1)).toBe(true);
    const kids = async () => ((await h!.call("GET", `/api/jwks/${VAULT}/${name}`)).json() as unknown as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect((await kids()).some((k) => k.includes(v1))).toBe(true);
    await fireTwice(h, at(30, 15));
    expect(await enabled(h, name, v1)).toBe(false);
    expect(await retiredEntries(h, keyId)).toHaveLength(1);
    expect((await kids()).some((k) => k.includes(v1))).toBe(false);
  });
});
