// Two dev hosts in one process are two Functions workers: each runs the app with the composition
// handed to its own appStart (kept in its own app hook data), never the one another host started
// with. A function relying on state in its own instance's memory would show here as one host
// answering from the other's services.
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, MemoryHistoryStore, startHost, type DevHost } from "../../../dev/host";
import { appHookDataFor } from "../../../dev/app/composition";
import { composeMemory } from "../../../lib/compose";
import { memoryApiServices, type MemoryApi } from "../../../lib/api/services";
import { encodePrincipal } from "../../../lib/http/principal";
import { ALL_FUNCTIONS, AUDITOR, seedKey, T0, VAULT } from "./support";

let hosts: DevHost[] = [];
afterEach(async () => {
  for (const h of hosts) await h.stop();
  hosts = [];
});

async function hostOver(mem: MemoryApi, clock: ManualClock): Promise<DevHost> {
  const h = await startHost({ entry: ALL_FUNCTIONS, roles: ["http"], store: new MemoryHistoryStore(), clock, appHookData: appHookDataFor(composeMemory(mem)) });
  hosts.push(h);
  return h;
}

async function keyIds(h: DevHost): Promise<string[]> {
  const r = await h.invokeHttp("GET", "/api/keys", { headers: { "x-ms-client-principal": encodePrincipal(AUDITOR[0], AUDITOR.slice(1)) } });
  expect(r.status).toBe(200);
  return (r.json() as { keys: Array<{ keyId: string }> }).keys.map((k) => k.keyId);
}

describe("two hosts in one process", () => {
  it("each answers from the composition handed to its own appStart, whichever host started last", async () => {
    process.env.KEYROTOR_TIMER_SCHEDULE ??= "0 */15 * * * *";
    const clock = new ManualClock(T0);
    const memA = memoryApiServices({ clock: { now: () => clock.now() }, vaults: [VAULT] });
    const memB = memoryApiServices({ clock: { now: () => clock.now() }, vaults: [VAULT] });
    const alpha = await seedKey(memA, "kek", "alpha");
    const beta = await seedKey(memB, "kek", "beta");
    const a = await hostOver(memA, clock);
    const b = await hostOver(memB, clock);
    expect(await keyIds(a)).toEqual([alpha.keyId]);
    expect(await keyIds(b)).toEqual([beta.keyId]);
    // Interleaved again: nothing one host's invocation did moved the other onto its composition.
    expect(await keyIds(a)).toEqual([alpha.keyId]);
  });

  it("a host's stop closes its own composition only: the other host still answers from its own", async () => {
    const clock = new ManualClock(T0);
    const memA = memoryApiServices({ clock: { now: () => clock.now() }, vaults: [VAULT] });
    const memB = memoryApiServices({ clock: { now: () => clock.now() }, vaults: [VAULT] });
    const beta = await seedKey(memB, "kek", "beta");
    const a = await hostOver(memA, clock);
    const b = await hostOver(memB, clock);
    await a.stop();
    expect(await keyIds(b)).toEqual([beta.keyId]);
  });
});
