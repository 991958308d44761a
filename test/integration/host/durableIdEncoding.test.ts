// The dev host's durable endpoint reads ids and keys in the URL path the way the real Durable
// extension's local RPC endpoint does: URL-decoded twice (dev/durable-runtime/README.md, difference 1).
// durable-functions' own DurableClient pastes instance ids and entity keys into the path unencoded,
// so an id that would need encoding fails here as it fails on the real runtime, and the app's ids
// (instanceIdFor, lockEntityKey) go through untouched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DurableClient } from "durable-functions";
import { durableClientInputData } from "../../../dev/host/durableApi";
import { durableClient, waitForEnd } from "../../../dev/durable-runtime/node/client";
import type { ClientJson } from "../../../dev/durable-runtime/node/harness";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { instanceIdFor } from "../../../lib/orchestration/names";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>>;
let client: DurableClient;
beforeAll(async () => {
  host = await fixtureHost();
  client = durableClient(durableClientInputData(host.url) as unknown as ClientJson);
});
afterAll(async () => {
  await host.stop();
});

const twice = (s: string): string => encodeURIComponent(encodeURIComponent(s));

describe("instance ids in the durable endpoint's path", () => {
  it("answers 404 to a start whose id holds %2F: decoded twice it holds a '/', as on the real runtime", async () => {
    await expect(client.startNew("sequence", { instanceId: "kek:demo-vault%2Fprobe@manual:x", input: ["a"] })).rejects.toThrow(/404/);
    await expect(client.startNew("sequence", { instanceId: encodeURIComponent("kek:demo-vault%2Fprobe@manual:y"), input: ["a"] })).rejects.toThrow(/404/);
    expect(await host.client.getStatus("kek:demo-vault/probe@manual:x")).toBeUndefined();
  });

  it("reaches an id holding '%' only when it is encoded twice", async () => {
    const started = await client.startNew("sequence", { instanceId: twice("legacy%2Fid"), input: ["a"] });
    expect(started).toBe("legacy%2Fid");
    expect((await host.client.waitForCompletion("legacy%2Fid", { timeoutMs: 15_000 })).runtimeStatus).toBe("Completed");
    expect((await client.getStatus(twice("legacy%2Fid"))).instanceId).toBe("legacy%2Fid");
  });

  it("reads a '+' in an instance id as a space, as the extension's WebUtility.UrlDecode does", async () => {
    await client.startNew("sequence", { instanceId: "plus+sign", input: ["a"] });
    expect(await host.client.getStatus("plus sign")).toBeDefined();
    expect(await host.client.getStatus("plus+sign")).toBeUndefined();
  });

  it("starts, reads and terminates instanceIdFor() of a KEK rotation through the unencoded client calls", async () => {
    const id = instanceIdFor("kek:demo-vault/tenant-kek@manual:20261205T203600-ab12cd34");
    expect(await client.startNew("sequence", { instanceId: id, input: ["a", "b"] })).toBe(id);
    const end = await waitForEnd(client, id, 15_000);
    expect(end.instanceId).toBe(id);
    expect(end.output).toEqual(["Hello a", "Hello b"]);
    const sleeping = instanceIdFor("kek:demo-vault/tenant-kek@schedule:2026-12-05T00:00:00.000Z");
    await client.startNew("sleeper", { instanceId: sleeping, input: 1 });
    await host.idle();
    await client.terminate(sleeping, "test");
    expect((await host.client.getStatus(sleeping))!.runtimeStatus).toBe("Terminated");
  });
});

describe("entity keys in the durable endpoint's path", () => {
  it("finds an entity whose key holds %2F only with the key encoded twice; encoded once it names another, absent entity", async () => {
    await host.client.signalEntity({ name: "counter", key: "a%2Fb" }, "add", 3);
    await host.idle();
    const df = await import("durable-functions");
    expect((await client.readEntityState(new df.EntityId("counter", encodeURIComponent("a%2Fb")))).entityExists).toBe(false);
    const found = await client.readEntityState<{ total: number }>(new df.EntityId("counter", twice("a%2Fb")));
    expect(found.entityExists).toBe(true);
    expect(found.entityState?.total).toBe(3);
  });

  it("signals and reads the entity of lockEntityKey() of a Key Vault keyId with the key as it is", async () => {
    const df = await import("durable-functions");
    const key = lockEntityKey("kek:demo-vault/tenant-kek");
    await client.signalEntity(new df.EntityId("counter", key), "add", 5);
    await host.idle();
    expect(await host.client.readEntity({ name: "counter", key })).toMatchObject({ exists: true, state: { total: 5 } });
    const read = await client.readEntityState<{ total: number }>(new df.EntityId("counter", key));
    expect(read.entityState?.total).toBe(5);
  });
});
