// The history the Durable extension's status link answers with `showHistory=true` (HttpApiHandler →
// DurableClient.GetDurableOrchestrationStatusAsync: DurableTask.Core's events as JSON, EventType as its
// name, OrchestratorStarted/Completed and the TaskScheduled/SubOrchestrationInstanceCreated rows folded
// into their results, Json.NET timestamps). The real extension's answers are recorded in
// test/fixtures/realRuntime/showHistory.json (test/realruntime/durableHistoryFormat.test.ts writes
// them with KEYROTOR_RECORD_HISTORY=1); each runtime's answer must have the recorded shape: the same
// events in the same order, each with the same field names in the same order and the same JSON types.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { fixture } from "../fixtures/durableApp/state";

export const SHOW_HISTORY_FIXTURE = path.resolve(__dirname, "../fixtures/realRuntime/showHistory.json");

export interface HistoryTarget {
  /** http://host:port serving /runtime/webhooks/durabletask. */
  origin(): string;
  /** The host's durabletask_extension system key, where the runtime asks for one. */
  systemKey?(): string;
  /** Record the answers into the fixture instead of comparing (the real runtime only). */
  record?: boolean;
}

interface Case {
  name: string;
  orchestrator: string;
  input: unknown;
  query: string;
  before?: (id: string) => void;
  /** What to do once the instance runs, in order: raise an event, suspend, resume, terminate. */
  ops?: Array<["raise", string, unknown] | ["suspend" | "resume" | "terminate", string]>;
}

const CASES: Case[] = [
  { name: "activities, completed (showHistory only)", orchestrator: "sequence", input: ["Oslo", "Rome"], query: "showHistory=true" },
  { name: "activities, completed, with outputs", orchestrator: "sequence", input: ["Oslo", "Rome"], query: "showHistory=true&showHistoryOutput=true" },
  { name: "activities, without inputs", orchestrator: "sequence", input: ["Oslo"], query: "showHistory=true&showHistoryOutput=true&showInput=false" },
  { name: "activity failed once, retried after a durable timer", orchestrator: "retrying", input: "KEY", query: "showHistory=true&showHistoryOutput=true", before: (id) => fixture.failuresLeft.set(id, 1) },
  { name: "activity failed on every attempt", orchestrator: "retrying", input: "KEY", query: "showHistory=true&showHistoryOutput=true", before: (id) => fixture.failuresLeft.set(id, 9) },
  { name: "sub-orchestrations: completed and failed", orchestrator: "parent", input: null, query: "showHistory=true&showHistoryOutput=true" },
  { name: "orchestration failed", orchestrator: "child", input: "boom", query: "showHistory=true&showHistoryOutput=true" },
  { name: "external event", orchestrator: "approval", input: null, query: "showHistory=true&showHistoryOutput=true", ops: [["raise", "Approved", { by: "ann" }]] },
  { name: "suspended and resumed", orchestrator: "approval", input: null, query: "showHistory=true&showHistoryOutput=true", ops: [["suspend", "pause"], ["raise", "Approved", "yes"], ["resume", "go"]] },
  { name: "terminated", orchestrator: "forever", input: null, query: "showHistory=true&showHistoryOutput=true", ops: [["terminate", "enough"]] },
  { name: "entity calls and a signal", orchestrator: "entityUser", input: "KEY", query: "showHistory=true&showHistoryOutput=true" },
  { name: "continueAsNew (the last execution)", orchestrator: "countdown", input: 1, query: "showHistory=true&showHistoryOutput=true" },
];

type Shape = Array<{ EventType: unknown; fields: Array<[string, string]> }>;

// Json.NET's UTC DateTime: up to 7 fractional digits, trailing zeros dropped; "Z", or "+00:00" where
// the extension copied the value through a JToken (ScheduledTime).
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?(Z|\+00:00)$/;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "string" && TIMESTAMP.test(v)) return v.endsWith("Z") ? "timestamp Z" : "timestamp +00:00";
  return typeof v;
}

/** Event type names, field names in order and JSON types, values left out. */
export function historyShape(events: unknown): Shape {
  expect(Array.isArray(events)).toBe(true);
  return (events as Array<Record<string, unknown>>).map((e) => ({ EventType: e.EventType, fields: Object.entries(e).map(([k, v]) => [k, typeOf(v)] as [string, string]) }));
}

function readFixture(): Record<string, { orchestrator: string; query: string; historyEvents: unknown }> {
  return JSON.parse(readFileSync(SHOW_HISTORY_FIXTURE, "utf8")) as Record<string, { orchestrator: string; query: string; historyEvents: unknown }>;
}

export function durableHistoryContract(target: () => HistoryTarget): void {
  const recorded: Record<string, unknown> = {};
  const keyed = (u: string): string => {
    const key = target().systemKey?.();
    return key === undefined ? u : `${u}${u.includes("?") ? "&" : "?"}code=${encodeURIComponent(key)}`;
  };

  async function run(c: Case, id: string): Promise<unknown> {
    c.before?.(id);
    const r = await fetch(keyed(`${target().origin()}/runtime/webhooks/durabletask/orchestrators/${c.orchestrator}/${id}`), {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(c.input === "KEY" ? id : c.input),
    });
    expect(r.status).toBe(202);
    const links = (await r.json()) as Record<"statusQueryGetUri" | "sendEventPostUri" | "suspendPostUri" | "resumePostUri" | "terminatePostUri", string>;
    const deadline = Date.now() + 60_000;
    const poll = async (done: (status: number, runtimeStatus: string) => boolean, query = "") => {
      for (;;) {
        const s = await fetch(`${links.statusQueryGetUri}${query}`);
        const body = (await s.json()) as { runtimeStatus: string; historyEvents?: unknown };
        if (done(s.status, body.runtimeStatus)) return body;
        if (Date.now() > deadline) throw new Error(`[test] ${id} still ${body.runtimeStatus} after 60 s`);
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    if (c.ops) {
      await poll((_s, rs) => rs === "Running");
      for (const op of c.ops) {
        const post = (url: string, body?: string) => fetch(url, { method: "POST", ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body }) });
        const res = op[0] === "raise" ? await post(links.sendEventPostUri.replace("{eventName}", op[1]), JSON.stringify(op[2]))
          : await post(links[`${op[0]}PostUri`].replace("{text}", op[1]));
        expect(res.status).toBe(202);
        if (op[0] === "suspend") await poll((_s, rs) => rs === "Suspended");
        // Let the event reach the suspended instance's history before it is resumed.
        if (op[0] === "raise") await new Promise((res2) => setTimeout(res2, 1_500));
      }
    }
    return (await poll((s) => s === 200, `&${c.query}`)).historyEvents;
  }

  it("a failed sub-orchestration reaches its parent as the real extension words it: Reason 'Orchestrator function ... failed: <message>', Details 'Message: <message>, StackTrace: ...', the parent's error the two joined by ' \\n '", async () => {
    if (target().record) return;
    const real = readFixture()["sub-orchestrations: completed and failed"]!.historyEvents as Array<Record<string, unknown>>;
    const events = (await run(CASES.find((c) => c.orchestrator === "parent")!, `hist-sub-${Date.now().toString(36)}`)) as Array<Record<string, unknown>>;
    const failed = (list: Array<Record<string, unknown>>) => list.find((e) => e.EventType === "SubOrchestrationInstanceFailed")!;
    const failure = (list: Array<Record<string, unknown>>) => ((list.at(-1)!.Result as { failure: string }).failure);
    expect(failed(events).Reason).toBe(failed(real).Reason);
    const detailsHead = (d: unknown) => String(d).slice(0, "Message: child exploded, StackTrace: ".length);
    expect(detailsHead(failed(events).Details)).toBe(detailsHead(failed(real).Details));
    expect(failure(events).split(" \n ")[0]).toBe(failure(real).split(" \n ")[0]);
    expect(failure(events).startsWith(`${String(failed(events).Reason)} \n ${String(failed(events).Details)}`)).toBe(true);
  }, 120_000);

  CASES.forEach((c, i) => {
    it(`showHistory: ${c.name} (${c.orchestrator}, ${c.query}) has the real extension's shape`, async () => {
      const id = `hist-${i}-${Date.now().toString(36)}`;
      const events = await run(c, id);
      if (target().record) {
        recorded[c.name] = { orchestrator: c.orchestrator, query: c.query, historyEvents: events };
        writeFileSync(SHOW_HISTORY_FIXTURE, `${JSON.stringify({ ...readFixture(), ...recorded }, null, 2)}\n`);
        return;
      }
      const real = readFixture()[c.name];
      expect(real, `no recorded answer for "${c.name}" in ${SHOW_HISTORY_FIXTURE}`).toBeDefined();
      expect(historyShape(events)).toEqual(historyShape(real!.historyEvents));
    }, 120_000);
  });
}
