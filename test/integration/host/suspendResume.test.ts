// Suspend and resume of a live instance on dev/host survive a crash: the Suspended state and what
// arrived while suspended are in the store (memory and Azure Table Storage), so a restarted host
// keeps the instance suspended and a resume after the restart completes it. The HTTP answers
// themselves are pinned on the real extension by test/support/durableManagementWebhookContract.ts.
import { afterEach, describe, expect, it } from "vitest";
import { TableHistoryStore, type HistoryStore } from "../../../dev/host";
import { freshTable } from "../../support/tables";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

async function statusOf(id: string): Promise<string | undefined> {
  return (await host!.client.getStatus(id))?.runtimeStatus;
}

async function until(id: string, status: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await statusOf(id)) !== status) {
    if (Date.now() > deadline) throw new Error(`[test] ${id} still ${await statusOf(id)}, not ${status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function webhook(id: string, op: "suspend" | "resume", reason: string): Promise<number> {
  const r = await fetch(`${host!.url}/runtime/webhooks/durabletask/instances/${id}/${op}?reason=${reason}&code=${host!.durableWebhookKey}`, { method: "POST" });
  return r.status;
}

async function suspendedAcrossCrash(store: "memory" | HistoryStore, id: string): Promise<void> {
  host = await fixtureHost({ store });
  await host.client.startNew("approval", { instanceId: id });
  await until(id, "Running");
  expect(await webhook(id, "suspend", "maintenance")).toBe(202);
  await until(id, "Suspended");
  await host.client.raiseEvent(id, "Approved", "after the restart");
  await host.idle();
  await host.crash();
  await host.resume({ visibilityTimeoutMs: 0 });
  await host.idle();
  expect(await host.client.getStatus(id)).toMatchObject({ runtimeStatus: "Suspended", output: "maintenance" });
  expect(await webhook(id, "resume", "done")).toBe(202);
  const end = await host.client.waitForCompletion(id, { timeoutMs: 20_000 });
  expect(end).toMatchObject({ runtimeStatus: "Completed", output: "after the restart" });
}

describe("suspend and resume across a crash", () => {
  it("a suspended instance stays suspended after crash and resume, holding the event it got, and completes once resumed (memory store)", async () => {
    await suspendedAcrossCrash("memory", "susp-mem-1");
  });

  it("a suspended instance stays suspended after crash and resume, holding the event it got, and completes once resumed (Azurite table store)", async () => {
    await suspendedAcrossCrash(new TableHistoryStore(await freshTable("dhsusp")), "susp-tab-1");
  });
});
