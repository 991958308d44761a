// A DEK fan-out terminated while one of its tenants' rotations runs, then started again for the
// same slot, on the durable host (history in Azurite, the Key Vault peer). The host discards a
// sub-orchestration start on a running instance, as Azure Storage does, so a restarted fan-out that
// started the same child id again would wait forever; it must wait for the earlier child instead and
// the tenant's DEK must be rotated once.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import type { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { seedKekWithDeks, stackSuite } from "./stack";

const suite = stackSuite();

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`[test] timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a DEK fan-out restarted while its earlier run's rotation still runs", () => {
  it("waits for that rotation instead of starting its id again, completes, and rotates the tenant's DEK once", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let promotions = 0;
    let entered = 0;
    const s = await suite.start({
      wrapDeps: (deps) => {
        // The first promotion of the tenant's new DEK blocks until the test lets it go: the
        // fan-out's child is running (holding the lock) while the fan-out is terminated.
        const store = (deps.deks as TableDekPort).store;
        const addPrimary = store.addPrimary.bind(store);
        store.addPrimary = async (...args) => {
          if (entered++ === 0) await gate;
          promotions++;
          return addPrimary(...args);
        };
      },
    });
    await seedKekWithDeks(s, suite.peers, 1, 1, "fanout-kek");
    await s.policies.put({ policyId: "tenant-deks", tenant: "tenant-0", kinds: ["dek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
    const fanOutId = "dek-fanout-restart-test";
    const childId = instanceIdFor("dek:tenant-0@restart");
    const input = { slot: "restart", tenants: ["tenant-0"], trigger: "manual", actor: "alice", childPollMs: 200 };

    await s.host.client.startNew(DURABLE.orchestrators.dekFanOut, { instanceId: fanOutId, input });
    await until("the child to reach the DEK promotion", () => entered > 0);
    await s.host.client.terminate(fanOutId, "test: operator stopped the fan-out");
    await until("the fan-out to stop", async () => (await s.host.client.getStatus(fanOutId))?.runtimeStatus === "Terminated");
    expect((await s.host.client.getStatus(childId))?.runtimeStatus).toBe("Running");

    await s.host.client.startNew(DURABLE.orchestrators.dekFanOut, { instanceId: fanOutId, input });
    // Let the restarted fan-out find the child running before it finishes.
    await new Promise((r) => setTimeout(r, 1_000));
    release();
    const done = await s.host.client.waitForCompletion(fanOutId, { timeoutMs: 20_000 });

    expect(done.runtimeStatus).toBe("Completed");
    expect(done.output).toMatchObject({ tenants: 1, completed: 1, failed: 0, refused: 0 });
    expect(promotions).toBe(1);
    expect(await s.dekStore.getPrimary("tenant-0")).toMatchObject({ dekVersion: 2, state: "primary" });
    expect((await s.host.client.getStatus(childId))?.runtimeStatus).toBe("Completed");
  }, 60_000);
});
