// What the Durable extension's HTTP management API answers on /runtime/webhooks/durabletask for the
// check-status links the app's durable client builds (createCheckStatusResponse, through the fixture
// app's durableOps HTTP function) and for the creation URL. Run against the real extension 3.19.0's
// HttpApiHandler (test/realruntime/durableManagementWebhooks.test.ts) and against dev/host
// (test/e2e/durableManagementWebhooks.test.ts), so dev/host answers as the extension does.
import { expect, it } from "vitest";
import { fixture, gate } from "../fixtures/durableApp/state";

export type Links = Record<"id" | "statusQueryGetUri" | "sendEventPostUri" | "terminatePostUri" | "purgeHistoryDeleteUri" | "rewindPostUri" | "restartPostUri" | "suspendPostUri" | "resumePostUri", string>;

export interface ManagementTarget {
  /** http://host:port serving /runtime/webhooks/durabletask. */
  origin(): string;
  /** Calls one of the fixture app's HTTP functions (its durable client bound to this runtime). */
  invokeHttp(method: string, path: string, body: unknown): Promise<{ status: number; json(): unknown }>;
  /** The host's durabletask_extension system key, where the runtime asks for one on the webhook
   * route (dev/host; the harness hosts no Functions host, so no key there). */
  systemKey?(): string;
}

export function durableManagementWebhookContract(target: () => ManagementTarget): void {
  // The links carry the origin of the request the app answered; the Functions host serves its HTTP
  // functions and the webhook route on one origin, so they are moved to the route's.
  const onRoute = (u: string): string => u.replace(/^https?:\/\/[^/]+/, target().origin());

  async function checkStatus(id: string, name: string): Promise<Links> {
    expect((await target().invokeHttp("POST", `/api/durable/start/${id}`, { name })).status).toBe(202);
    return checkStatusOf(id);
  }

  async function checkStatusOf(id: string): Promise<Links> {
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

  /** A URL the test builds itself, with the system key where the runtime has one. */
  const keyed = (u: string): string => {
    const key = target().systemKey?.();
    return key === undefined ? u : `${u}${u.includes("?") ? "&" : "?"}code=${encodeURIComponent(key)}`;
  };

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

  it("terminate link: the reason is stored as written, so the status reads it as JSON where it is JSON (reason 42: output 42, a number)", async () => {
    const links = await checkStatus("forever-42", "forever");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(await answer(fetch(links.terminatePostUri.replace("{text}", "42"), { method: "POST" }))).toEqual({ status: 202, text: "" });
    const end = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(end.body).toMatchObject({ runtimeStatus: "Terminated", output: 42 });
  }, 120_000);

  it("status link: the body's fields in the extension's order (StatusResponsePayload), historyEvents only when asked for", async () => {
    const links = await checkStatus("keys-1", "sequence");
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    const withHistory = await pollStatus(`${links.statusQueryGetUri}&showHistory=true`, (s) => s === 200);
    expect({ plain: Object.keys(done.body), withHistory: Object.keys(withHistory.body) }).toEqual({
      plain: ["name", "instanceId", "runtimeStatus", "input", "customStatus", "output", "createdTime", "lastUpdatedTime"],
      withHistory: ["name", "instanceId", "runtimeStatus", "input", "customStatus", "output", "createdTime", "lastUpdatedTime", "historyEvents"],
    });
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

  /** An exception out of the extension's client: HttpApiHandler's 500 with the serialized exception. */
  const refused = async (res: Promise<Response>) => {
    const r = await res;
    const body = (await r.json()) as Record<string, unknown>;
    return { status: r.status, Message: body.Message, ExceptionMessage: body.ExceptionMessage, ExceptionType: body.ExceptionType, keys: Object.keys(body) };
  };
  const serverError = (message: string) => ({
    status: 500, Message: "Something went wrong while processing your request", ExceptionMessage: message, ExceptionType: "System.InvalidOperationException", keys: ["Message", "ExceptionMessage", "ExceptionType", "StackTrace"],
  });
  const post = (url: string, reason = "why") => answer(fetch(url.replace("{text}", reason), { method: "POST" }));
  const stillFor = async (url: string, ms: number) => {
    const deadline = Date.now() + ms;
    let last = await pollStatus(url, () => true);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      last = await pollStatus(url, () => true);
    }
    return last;
  };

  it("suspend link on a running instance: empty 202, then Suspended (202 with Location) with the reason as output; an event raised meanwhile runs the orchestrator (custom status) but its completion is held; suspending it again is a 500 naming its state; resume 202 applies the event and the instance completes", async () => {
    const links = await checkStatus("suspend-live-1", "approval");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(await post(links.suspendPostUri)).toEqual({ status: 202, text: "" });
    const suspended = await pollStatus(links.statusQueryGetUri, (_s, b) => b.runtimeStatus === "Suspended");
    expect({ status: suspended.status, location: suspended.location, retryAfter: suspended.retryAfter }).toEqual({ status: 202, location: links.statusQueryGetUri, retryAfter: "5" });
    expect(suspended.body).toMatchObject({ name: "approval", customStatus: { waitingFor: "Approved" }, output: "why" });
    expect(await answer(fetch(links.sendEventPostUri.replace("{eventName}", "Approved"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify("held") }))).toEqual({ status: 202, text: "" });
    expect(await refused(fetch(links.suspendPostUri.replace("{text}", "again"), { method: "POST" }))).toEqual(serverError("Cannot suspend the orchestration instance suspend-live-1 because instance is in the Suspended state."));
    const held = await stillFor(links.statusQueryGetUri, 3_000);
    // The orchestrator ran on the event (its custom status moved on), but its completion is held.
    expect(held.body).toMatchObject({ runtimeStatus: "Suspended", output: "why", customStatus: { waitingFor: null } });
    expect(await post(links.resumePostUri)).toEqual({ status: 202, text: "" });
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: "held", customStatus: { waitingFor: null } });
  }, 120_000);

  it("a suspended instance runs no episode: an activity result that arrives while suspended schedules nothing until resume", async () => {
    const run = `suspend-steps-${Date.now()}`;
    const g = gate(`${run}/gate`);
    expect((await target().invokeHttp("POST", "/api/durable/start/suspend-steps-1", { name: "steps", input: { run, gateAt: 2 } })).status).toBe(202);
    const links = await checkStatusOf("suspend-steps-1");
    await g.entered;
    expect(await post(links.suspendPostUri)).toEqual({ status: 202, text: "" });
    await pollStatus(links.statusQueryGetUri, (_s, b) => b.runtimeStatus === "Suspended");
    g.open();
    await stillFor(links.statusQueryGetUri, 3_000);
    expect({ step3: fixture.stepRuns.get(`${run}/3`) ?? 0, status: (await pollStatus(links.statusQueryGetUri, () => true)).body.runtimeStatus }).toEqual({ step3: 0, status: "Suspended" });
    expect(await post(links.resumePostUri)).toEqual({ status: 202, text: "" });
    const done = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(done.body).toMatchObject({ runtimeStatus: "Completed", output: { sum: 100, total: 100 } });
    expect([1, 2, 3, 4].map((i) => fixture.stepRuns.get(`${run}/${i}`))).toEqual([1, 1, 1, 1]);
  }, 120_000);

  it("resume link on a running instance is a 500 naming its state; resume of a suspended one: Running with the resume reason as output; terminate link on a suspended instance: 202, Terminated with the reason", async () => {
    const links = await checkStatus("suspend-term-1", "forever");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    expect(await refused(fetch(links.resumePostUri.replace("{text}", "r0"), { method: "POST" }))).toEqual(serverError("Cannot resume the orchestration instance suspend-term-1 because instance is in the Running state."));
    expect(await post(links.suspendPostUri, "s1")).toEqual({ status: 202, text: "" });
    expect((await pollStatus(links.statusQueryGetUri, (_s, b) => b.runtimeStatus === "Suspended")).body).toMatchObject({ output: "s1" });
    expect(await post(links.resumePostUri, "r1")).toEqual({ status: 202, text: "" });
    const resumed = await pollStatus(links.statusQueryGetUri, (_s, b) => b.runtimeStatus === "Running");
    expect({ status: resumed.status, output: resumed.body.output }).toEqual({ status: 202, output: "r1" });
    expect(await post(links.suspendPostUri, "s2")).toEqual({ status: 202, text: "" });
    await pollStatus(links.statusQueryGetUri, (_s, b) => b.runtimeStatus === "Suspended");
    expect(await post(links.terminatePostUri, "stopped%20while%20suspended")).toEqual({ status: 202, text: "" });
    const end = await pollStatus(links.statusQueryGetUri, (s) => s === 200);
    expect(end.body).toMatchObject({ runtimeStatus: "Terminated", output: "stopped while suspended" });
  }, 120_000);

  it("connection= names the storage connection: an unknown one is a 500 naming it (status, raise-event and creation URLs), an empty one means the default", async () => {
    const links = await checkStatus("conn-1", "approval");
    await pollStatus(links.statusQueryGetUri, (s, b) => s === 202 && b.runtimeStatus === "Running");
    const other = (u: string, value: string) => u.replace("connection=Storage", `connection=${value}`);
    const expected = serverError("Unable to resolve the Azure Storage connection named 'NoSuchConnection'.");
    expect(await refused(fetch(other(links.statusQueryGetUri, "NoSuchConnection")))).toEqual(expected);
    expect(await refused(fetch(other(links.sendEventPostUri, "NoSuchConnection").replace("{eventName}", "Approved"), { method: "POST", headers: { "content-type": "application/json" }, body: "1" }))).toEqual(expected);
    expect(await refused(fetch(keyed(`${target().origin()}/runtime/webhooks/durabletask/orchestrators/sequence/conn-2?connection=NoSuchConnection`), { method: "POST", headers: { "content-type": "application/json" }, body: "[]" }))).toEqual(expected);
    expect((await pollStatus(other(links.statusQueryGetUri, ""), () => true)).body).toMatchObject({ instanceId: "conn-1", runtimeStatus: "Running" });
    expect(await answer(fetch(links.terminatePostUri.replace("{text}", "done"), { method: "POST" }))).toEqual({ status: 202, text: "" });
  }, 120_000);

  it("creation URL: POST orchestrators/{functionName}/{instanceId} answers 202 with Location and Retry-After 10 and the links; an unknown instance's status and raise-event links are empty 404s", async () => {
    const r = await fetch(keyed(`${target().origin()}/runtime/webhooks/durabletask/orchestrators/sequence/created-1`), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(["Oslo"]) });
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
