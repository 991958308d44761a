// A start that hits a running instance behaves as on Azure Storage: the HTTP management API answers
// 500 (the extension's client throws InvalidOperationException, which its HTTP API does not catch),
// and a sub-orchestration start is discarded: the parent gets no failure event and keeps waiting.
import { afterEach, describe, expect, it } from "vitest";
import { fixtureHost } from "./support";

let host: (Awaited<ReturnType<typeof fixtureHost>> & { lines?: string[] }) | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

describe("a start that hits a running instance", () => {
  it("answers 500 with the extension's message on the durable HTTP API, and starts nothing", async () => {
    host = await fixtureHost();
    await host.client.startNew("forever", { instanceId: "dup-http" });
    const r = await fetch(`${host.url}/runtime/webhooks/durabletask/orchestrators/forever/dup-http?code=${host.durableWebhookKey}`, { method: "POST", headers: { "content-type": "application/json" }, body: "null" });
    expect(r.status).toBe(500);
    expect(await r.json()).toMatchObject({ ExceptionMessage: "An Orchestration instance with the status Running already exists." });
    const before = await host.client.getStatus("dup-http");
    await host.idle();
    expect(await host.client.getStatus("dup-http")).toEqual(before);
    expect(before).toMatchObject({ name: "forever", runtimeStatus: "Running" });
  });

  it("discards a sub-orchestration start on a running instance id: the parent gets no failure and waits", async () => {
    host = await fixtureHost();
    await host.client.startNew("forever", { instanceId: "p1-kid" });
    await host.client.startNew("parent", { instanceId: "p1" });
    await host.idle();
    expect((await host.client.getStatus("p1"))?.runtimeStatus).toBe("Running");
    expect((await host.client.getStatus("p1-kid"))).toMatchObject({ name: "forever", runtimeStatus: "Running" });
    expect(host.lines?.some((l) => /p1-kid not started: An Orchestration instance with the status Running already exists/.test(l))).toBe(true);
  });
});
