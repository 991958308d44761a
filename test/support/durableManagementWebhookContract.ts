// What the Durable extension's HTTP management API answers on /runtime/webhooks/durabletask for the
// check-status links the app's durable client builds (createCheckStatusResponse, through the fixture
// app's durableOps HTTP function) and for the creation URL. Run against the real extension 3.19.0's
// HttpApiHandler (test/realruntime/durableManagementWebhooks.test.ts) and against dev/host
// (test/e2e/durableManagementWebhooks.test.ts), so dev/host answers as the extension does.
import { expect, it } from "vitest";

export type Links = Record<"id" | "statusQueryGetUri" | "sendEventPostUri" | "terminatePostUri" | "purgeHistoryDeleteUri" | "rewindPostUri" | "restartPostUri" | "suspendPostUri" | "resumePostUri", string>;

export interface ManagementTarget {
  /** http://host:port serving /runtime/webhooks/durabletask. */
  origin(): string;
  /** Calls one of the fixture app's HTTP functions (its durable client bound to this runtime). */
  invokeHttp(method: string, path: string, body: unknown): Promise<{ status: number; json(): unknown }>;
}

export function durableManagementWebhookContract(target: () => ManagementTarget): void {
  // The links carry the origin of the request the app answered; the Functions host serves its HTTP
  // functions and the webhook route on one origin, so they are moved to the route's.
  const onRoute = (u: string): string => u.replace(/^https?:\/\/[^/]+/, target().origin());

  async function checkStatus(id: string, name: string): Promise<Links> {
    expect((await target().invokeHttp("POST", `/api/durable/start/${id}`, { name })).status).toBe(202);
    const r = await target().invokeHttp("POST", `/api/durable/checkStatus/${id}`, {});
    expect(r.status).toBe(202);
    return Object.fromEntries(Object.entries(r.json() as Links).map(([k, v]) => [k, onRoute(v)])) as Links;
  }

  /** GETs the status link until `done` holds for the answer, or fails after timeoutMs. */
  async function pollStatus(url: string, done: (status: number, body: { runtimeStatus?: string }) => boolean, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(url);
      const text = await res.text();
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      if (done(res.status, body)) return { status: res.status, body, location: res.headers.get("location"), retryAfter: res.headers.get("retry-after") };
      if (Date.now() > deadline) throw new Error(`[test] ${url} still ${res.status} ${text} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  const answer = async (res: Promise<Response>) => {
    const r = await res;
    return { status: r.status, text: await r.text() };
  };

  it("status link: 202 with Location and Retry-After 5 while running, raise-event link 202, then 200 Completed; a finished instance refuses events with an empty 410; purge 200, then empty 404s", async () => {
    const links = await checkStatus("approve-1", "approval");
    const running = await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(running.body).toMatchObject({ name: "approval", instanceId: "approve-1", customStatus: { waitingFor: "Approved" }, output: null });
    expect(running.location).toBe(links.statusQueryGetUri);
    expect(running.retryAfter).toBe("5");
    const raise = (body: string) => fetch(links.sendEventPostUri.replace("{eventName}", "Approved"), { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(await answer(raise(JSON.stringify("yes")))).toEqual({ status: 202, text: "" });
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: "yes", customStatus: { waitingFor: null } });
    expect(await answer(raise("1"))).toEqual({ status: 410, text: "" });
    expect(await answer(fetch(links.terminatePostUri.replace("{text}", "late"), { method: "POST" }))).toEqual({ status: 410, text: "" });
    const purge = await fetch(links.purgeHistoryDeleteUri, { method: "DELETE" });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ instancesDeleted: 1 });
    expect(await answer(fetch(links.statusQueryGetUri))).toEqual({ status: 404, text: "" });
    expect(await answer(fetch(links.purgeHistoryDeleteUri, { method: "DELETE" }))).toEqual({ status: 404, text: "" });
  }, 120_000);

  it("terminate link: 202, then the status link reports Terminated with the reason as output", async () => {
    const links = await checkStatus("forever-1", "forever");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(await answer(fetch(links.terminatePostUri.replace("{text}", "stop%20it"), { method: "POST" }))).toEqual({ status: 202, text: "" });
    const end = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(end.body).toMatchObject({ name: "forever", runtimeStatus: "Terminated", output: "stop it" });
  }, 120_000);

  it("status link and instance list: createdTime and lastUpdatedTime in whole seconds (yyyy-MM-ddTHH:mm:ssZ, as .NET's ToString(\"s\") + \"Z\")", async () => {
    const links = await checkStatus("seconds-1", "sequence");
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    const wholeSeconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
    expect(done.body).toMatchObject({ createdTime: expect.stringMatching(wholeSeconds), lastUpdatedTime: expect.stringMatching(wholeSeconds) });
    const list = (await (await fetch(links.statusQueryGetUri.replace("/instances/seconds-1?", "/instances?"))).json()) as { instanceId: string; createdTime: string; lastUpdatedTime: string }[];
    const mine = list.find((i) => i.instanceId === "seconds-1");
    expect(mine).toMatchObject({ createdTime: expect.stringMatching(wholeSeconds), lastUpdatedTime: expect.stringMatching(wholeSeconds) });
  }, 120_000);

  it("instances?taskHub=<another hub> lists that hub's instances, none of this hub's", async () => {
    const links = await checkStatus("hub-1", "sequence");
    await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    const listUrl = links.statusQueryGetUri.replace("/instances/hub-1?", "/instances?");
    const own = (await (await fetch(listUrl)).json()) as { instanceId: string }[];
    expect(own.map((i) => i.instanceId)).toContain("hub-1");
    const other = await fetch(listUrl.replace(/taskHub=[^&]*/, "taskHub=otherhub"));
    const text = await other.text();
    expect({ status: other.status, ids: (JSON.parse(text) as { instanceId: string }[]).map((i) => i.instanceId) }).toEqual({ status: 200, ids: [] });
  }, 120_000);

  it("suspend and resume links: a finished instance answers an empty 410, an unknown one an empty 404", async () => {
    const links = await checkStatus("suspend-1", "sequence");
    await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    const post = (url: string) => answer(fetch(url.replace("{text}", "why"), { method: "POST" }));
    expect(await post(links.suspendPostUri)).toEqual({ status: 410, text: "" });
    expect(await post(links.resumePostUri)).toEqual({ status: 410, text: "" });
    const unknown = (url: string) => url.replace("/suspend-1/", "/no-such-instance/");
    expect(await post(unknown(links.suspendPostUri))).toEqual({ status: 404, text: "" });
    expect(await post(unknown(links.resumePostUri))).toEqual({ status: 404, text: "" });
  }, 120_000);

  it("creation URL: POST orchestrators/{functionName}/{instanceId} answers 202 with Location and Retry-After 10 and the links; an unknown instance's status and raise-event links are empty 404s", async () => {
    const r = await fetch(`${target().origin()}/runtime/webhooks/durabletask/orchestrators/sequence/created-1`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(["Oslo"]) });
    expect(r.status).toBe(202);
    expect(r.headers.get("retry-after")).toBe("10");
    const links = (await r.json()) as Links;
    expect(links.id).toBe("created-1");
    expect(r.headers.get("location")).toBe(links.statusQueryGetUri);
    expect(links.statusQueryGetUri.startsWith(`${target().origin()}/runtime/webhooks/durabletask/instances/created-1?`)).toBe(true);
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: ["Hello Oslo"] });
    const unknown = links.statusQueryGetUri.replace("/created-1?", "/no-such-instance?");
    expect(await answer(fetch(unknown))).toEqual({ status: 404, text: "" });
    expect(await answer(fetch(unknown.replace("?", "/raiseEvent/E?"), { method: "POST", headers: { "content-type": "application/json" }, body: "1" }))).toEqual({ status: 404, text: "" });
  }, 120_000);
}
