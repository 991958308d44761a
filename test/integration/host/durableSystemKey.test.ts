// dev/host asks for the durabletask_extension system key on /runtime/webhooks/durabletask as the
// Functions host does (HostController.ExtensionWebHookHandler under the SystemKeyAuthLevel policy;
// AuthenticationLevelHandler reads `x-functions-key`, else `code`): a missing or unknown key is an
// empty 401. The key is generated per host and handed to the app's durable client binding the way
// the extension builds it from the host's webhook URL (`?code=<key>`): requiredQueryStringParameters,
// the creation and management links. The local RPC endpoint durable-functions calls asks for none.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>>;
beforeAll(async () => {
  host = await fixtureHost();
  await host.client.startNew("forever", { instanceId: "key-1" });
});
afterAll(async () => {
  await host?.stop();
});

const statusUrl = (query: string) => `${host.url}/runtime/webhooks/durabletask/instances/key-1${query}`;
const answer = async (url: string, init?: RequestInit) => {
  const r = await fetch(url, init);
  return { status: r.status, text: await r.text() };
};

describe("the durabletask_extension system key on dev/host", () => {
  it("refuses the webhook route without a key or with another one: an empty 401, and nothing happens", async () => {
    expect(await answer(statusUrl(""))).toEqual({ status: 401, text: "" });
    expect(await answer(statusUrl("?code=wrong"))).toEqual({ status: 401, text: "" });
    expect(await answer(`${host.url}/runtime/webhooks/durabletask/instances/key-1/terminate?reason=x`, { method: "POST" })).toEqual({ status: 401, text: "" });
    expect(await answer(`${host.url}/runtime/webhooks/durabletask/orchestrators/sequence/key-2`, { method: "POST", headers: { "content-type": "application/json" }, body: "[]" })).toEqual({ status: 401, text: "" });
    await host.idle();
    expect((await host.client.getStatus("key-1"))?.runtimeStatus).toBe("Running");
    expect(await host.client.getStatus("key-2")).toBeUndefined();
  });

  it("accepts the key as code or as the x-functions-key header, which wins over code", async () => {
    const key = host.durableWebhookKey;
    expect((await fetch(statusUrl(`?code=${encodeURIComponent(key)}`))).status).toBe(202);
    expect((await fetch(statusUrl(""), { headers: { "x-functions-key": key } })).status).toBe(202);
    expect((await fetch(statusUrl(`?code=${encodeURIComponent(key)}`), { headers: { "x-functions-key": "wrong" } })).status).toBe(401);
  });

  it("hands the app's durable client code=<key> in requiredQueryStringParameters and every link, and the links work", async () => {
    expect((await host.invokeHttp("POST", "/api/durable/start/key-3", { body: { name: "forever" } })).status).toBe(202);
    const r = await host.invokeHttp("POST", "/api/durable/checkStatus/key-3", { body: {} });
    const links = r.json() as Record<string, string>;
    const code = `code=${encodeURIComponent(host.durableWebhookKey)}`;
    expect(links.statusQueryGetUri).toBe(`${host.url}/runtime/webhooks/durabletask/instances/key-3?taskHub=devhost&connection=Storage&${code}`);
    expect(links.terminatePostUri).toBe(`${host.url}/runtime/webhooks/durabletask/instances/key-3/terminate?reason={text}&taskHub=devhost&connection=Storage&${code}`);
    expect((await fetch(links.statusQueryGetUri!)).status).toBe(202);
    expect((await fetch(links.terminatePostUri!.replace("{text}", "bye"), { method: "POST" })).status).toBe(202);
    expect((await host.client.waitForCompletion("key-3", { timeoutMs: 10_000 })).runtimeStatus).toBe("Terminated");
  });

  it("a second host has another key, and the local RPC endpoint (rpcBaseUrl) asks for none", async () => {
    const other = await fixtureHost();
    try {
      expect(other.durableWebhookKey).not.toBe(host.durableWebhookKey);
      expect(other.durableWebhookKey.length).toBeGreaterThanOrEqual(40);
    } finally {
      await other.stop();
    }
    expect((await fetch(`${host.url}/durabletask/instances/key-1`)).status).toBe(202);
  });
});
