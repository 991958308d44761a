// The real Durable extension's local RPC endpoint reads instance ids and entity keys from a path it
// URL-decodes twice (Kestrel, then HttpApiHandler's WebUtility.UrlDecode before route matching), and
// durable-functions puts them into that path unencoded. The same cases as
// test/integration/host/durableIdEncoding.test.ts, here against the real runtime, so dev/host's
// emulation of that decoding stays honest; and the app's ids (instanceIdFor, lockEntityKey) pass.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as df from "durable-functions";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { lockEntityKey } from "../../lib/domain/rotation";
import { instanceIdFor } from "../../lib/orchestration/names";
import { describeRealRuntime, durableClient, waitForEnd } from "./realRuntimeSupport";

const twice = (s: string): string => encodeURIComponent(encodeURIComponent(s));

async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describeRealRuntime("durable ids in the real RPC endpoint's path", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: [path.resolve(__dirname, "../fixtures/durableApp/orchestrations.ts")], taskHub: "idshub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  it("answers 404 to a start whose id holds %2F, once or not encoded; reaches an id holding '%' encoded twice; reads '+' as a space", async () => {
    const client = durableClient(rt.client);
    await expect(client.startNew("sequence", { instanceId: "kek:demo-vault%2Fprobe@manual:x", input: ["a"] })).rejects.toThrow(/404/);
    await expect(client.startNew("sequence", { instanceId: encodeURIComponent("kek:demo-vault%2Fprobe@manual:y"), input: ["a"] })).rejects.toThrow(/404/);
    expect(await client.startNew("sequence", { instanceId: twice("legacy%2Fid"), input: ["a"] })).toBe("legacy%2Fid");
    expect((await waitForEnd(client, twice("legacy%2Fid"), 120_000)).instanceId).toBe("legacy%2Fid");
    await client.startNew("sequence", { instanceId: "plus+sign", input: ["a"] });
    expect((await waitForEnd(client, "plus sign", 120_000)).instanceId).toBe("plus sign");
  }, 300_000);

  it("starts, reads and terminates instanceIdFor() of a KEK rotation through the unencoded client calls", async () => {
    const client = durableClient(rt.client);
    const id = instanceIdFor("kek:demo-vault/tenant-kek@manual:20261205T203600-ab12cd34");
    expect(await client.startNew("sequence", { instanceId: id, input: ["a", "b"] })).toBe(id);
    const end = await waitForEnd(client, id, 120_000);
    expect(end.instanceId).toBe(id);
    expect(end.output).toEqual(["Hello a", "Hello b"]);
    const sleeping = instanceIdFor("kek:demo-vault/tenant-kek@schedule:2026-12-05T00:00:00.000Z");
    await client.startNew("sleeper", { instanceId: sleeping, input: 1 });
    await eventually(() => client.getStatus(sleeping), (s) => s.runtimeStatus === df.OrchestrationRuntimeStatus.Running);
    await client.terminate(sleeping, "test");
    expect((await eventually(() => client.getStatus(sleeping), (s) => s.runtimeStatus === df.OrchestrationRuntimeStatus.Terminated)).runtimeStatus).toBe("Terminated");
  }, 300_000);

  it("finds an entity whose key holds %2F only with the key encoded twice, and lockEntityKey()'s entity with the key as it is", async () => {
    const client = durableClient(rt.client);
    await client.signalEntity(new df.EntityId("counter", twice("a%2Fb")), "add", 3);
    const found = await eventually(() => client.readEntityState<{ total: number }>(new df.EntityId("counter", twice("a%2Fb"))), (r) => r.entityExists);
    expect(found.entityState?.total).toBe(3);
    expect((await client.readEntityState(new df.EntityId("counter", encodeURIComponent("a%2Fb")))).entityExists).toBe(false);
    const key = lockEntityKey("kek:demo-vault/tenant-kek");
    await client.signalEntity(new df.EntityId("counter", key), "add", 5);
    const read = await eventually(() => client.readEntityState<{ total: number }>(new df.EntityId("counter", key)), (r) => r.entityExists);
    expect(read.entityState?.total).toBe(5);
  }, 300_000);
});
