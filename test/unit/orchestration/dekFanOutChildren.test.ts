// How a DEK fan-out decides which tenants' rotations it may start: it waits (durable timers) for
// the ones an earlier run left running, and the instanceStatus activity it asks reads the runtime.
import type { OrchestrationContext } from "durable-functions";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { earlierChildrenSettled } from "../../../lib/orchestration/dekFanOutChildren";
import { instanceStatuses, isLive, type InstanceStatuses } from "../../../lib/orchestration/instanceStatus";
import { CLIENT_ACTIVITIES } from "../../../lib/orchestration/names";

type Desc = { t: "activity"; name: string; input: { instanceIds: string[] } } | { t: "timer"; at: Date };

/** Drives the generator: each status read answers from `answers` (one per read), timers move time. */
function drive(ids: string[], answers: (InstanceStatuses | Error)[], pollMs: number, maxWaitMs: number): { stillRunning: Set<string>; reads: string[][]; timers: number } {
  let now = new Date("2026-03-01T00:00:00Z");
  const ctx = {
    df: {
      get currentUtcDateTime() { return now; },
      callActivity: (name: string, input: { instanceIds: string[] }): Desc => ({ t: "activity", name, input }),
      createTimer: (at: Date): Desc => ({ t: "timer", at }),
    },
  } as unknown as OrchestrationContext;
  const reads: string[][] = [];
  let timers = 0;
  const gen = earlierChildrenSettled(ctx, ids, pollMs, maxWaitMs);
  let step = gen.next();
  while (!step.done) {
    const d = step.value as unknown as Desc;
    if (d.t === "activity") {
      expect(d.name).toBe(CLIENT_ACTIVITIES.instanceStatus);
      reads.push(d.input.instanceIds);
      const answer = answers[reads.length - 1] ?? {};
      step = answer instanceof Error ? gen.throw(answer) : gen.next(answer);
    } else {
      timers++;
      now = d.at;
      step = gen.next(undefined);
    }
  }
  return { stillRunning: step.value, reads, timers };
}

describe("the DEK fan-out's wait for its earlier run's rotations", () => {
  it("starts at once when none of the wave's rotation ids exists or runs (one status read, no timer)", () => {
    const r = drive(["a", "b"], [{ a: null, b: "Completed" }], 1_000, 60_000);
    expect(r).toEqual({ stillRunning: new Set(), reads: [["a", "b"]], timers: 0 });
  });

  it("waits, re-reading only the ones still running, until they finished", () => {
    const r = drive(["a", "b", "c"], [{ a: "Running", b: "Failed", c: "Pending" }, { a: "Running", c: "Completed" }, { a: "Terminated" }], 1_000, 60_000);
    expect(r.stillRunning.size).toBe(0);
    expect(r.reads).toEqual([["a", "b", "c"], ["a", "c"], ["a"]]);
    expect(r.timers).toBe(2);
  });

  it("reads the statuses again after a failed read, and fails only after five failed reads in a row", () => {
    const r = drive(["a"], [new Error("ECONNRESET"), new Error("ECONNRESET"), { a: "Completed" }], 1_000, 60_000);
    expect(r).toMatchObject({ stillRunning: new Set(), timers: 2 });
    expect(() => drive(["a"], Array.from({ length: 5 }, () => new Error("ECONNRESET")), 1_000, 60_000)).toThrow("ECONNRESET");
  });

  it("gives up on a rotation still running after the longest wait and reports it instead of starting it", () => {
    const running: InstanceStatuses = { a: "Running" };
    const r = drive(["a"], Array.from({ length: 20 }, () => running), 1_000, 5_000);
    expect(r.stillRunning).toEqual(new Set(["a"]));
    expect(r.timers).toBe(5);
  });
});

describe("the instanceStatus activity", () => {
  it("answers each instance's runtime status, null for one that does not exist (a 404 from the client)", async () => {
    const client = {
      getStatus: (id: string) => id === "gone" ? Promise.reject(new Error("Instance gone not found (404)")) : Promise.resolve(id === "none" ? undefined : { runtimeStatus: "Running" }),
    };
    await expect(instanceStatuses(client, { instanceIds: ["x", "gone", "none"] })).resolves.toEqual({ x: "Running", gone: null, none: null });
  });

  it("passes on any other client failure (the fan-out reads again)", async () => {
    await expect(instanceStatuses({ getStatus: () => Promise.reject(new Error("ECONNRESET")) }, { instanceIds: ["x"] })).rejects.toThrow("ECONNRESET");
  });

  it("refuses an input without instance ids", async () => {
    await expect(instanceStatuses({ getStatus: () => Promise.resolve(undefined) }, { instanceIds: [] })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it("counts Running, Pending, Suspended and ContinuedAsNew as live, a finished or missing instance as not", () => {
    expect(["Running", "Pending", "Suspended", "ContinuedAsNew"].map(isLive)).toEqual([true, true, true, true]);
    expect(["Completed", "Failed", "Terminated", "Canceled", null, undefined].map(isLive)).toEqual([false, false, false, false, false, false]);
  });
});
