// A minimal in-process driver for orchestrator generators: it resolves each yielded task at once
// by running the real activity handlers, the real keyLock entity operation and sub-orchestrations.
// It does not replay (the dev host does that); it proves the workflow logic and the activities.
import { createHash } from "node:crypto";
import type { OrchestrationContext } from "durable-functions";
import type { LockState } from "../../../lib/domain/rotation";
import { overPorts } from "../../../lib/compose";
import { runActivity } from "../../../lib/orchestration/handlers";
import { keyLockOperation } from "../../../lib/orchestration/lock";
import { instanceStatuses } from "../../../lib/orchestration/instanceStatus";
import { CLIENT_ACTIVITIES, DURABLE } from "../../../lib/orchestration/names";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import * as wf from "../../../lib/orchestration/workflows";

type Desc =
  | { t: "activity"; name: string; input: unknown }
  | { t: "entity"; key: string; op: string; input: unknown }
  | { t: "sub"; name: string; input: unknown; instanceId?: string }
  | { t: "timer"; at: Date }
  | { t: "all"; tasks: Desc[] };

type Orchestrator = (ctx: OrchestrationContext) => Generator<unknown, unknown, unknown>;
const ORCHESTRATORS: Record<string, Orchestrator> = {
  [DURABLE.orchestrators.rotation]: wf.rotationOrchestrator,
  [DURABLE.orchestrators.rewrap]: wf.rewrapOrchestrator,
  [DURABLE.orchestrators.dekFanOut]: wf.dekFanOutOrchestrator,
  [DURABLE.orchestrators.retirement]: wf.retirementOrchestrator,
  [DURABLE.orchestrators.rollback]: wf.rollbackOrchestrator,
};
const ACTIVITY_KEYS = Object.fromEntries(Object.entries(DURABLE.activities).map(([k, v]) => [v, k])) as Record<string, keyof typeof DURABLE.activities>;

export interface DriverTrace {
  activities: { name: string; input: unknown; output?: unknown }[];
  statuses: unknown[];
  continuedAsNew: number;
  /** Every orchestrator episode started (the first and each continueAsNew), with its input. */
  episodes: { name: string; input: unknown }[];
  timers: Date[];
}

export class Driver {
  readonly locks = new Map<string, LockState>();
  readonly trace: DriverTrace = { activities: [], statuses: [], continuedAsNew: 0, timers: [], episodes: [] };
  /** Called before each activity runs; throw to inject a failure, or await to interleave another
   * orchestration (e.g. one that takes the key over while this one is between two steps). */
  beforeActivity: (name: string, input: unknown) => void | Promise<void> = () => {};
  constructor(readonly deps: RotationDeps, public now: Date = new Date("2026-03-01T00:00:00Z")) {}

  async run(name: string, input: unknown, instanceId = "i"): Promise<unknown> {
    let current = input;
    for (;;) {
      this.trace.episodes.push({ name, input: structuredClone(current) });
      let next: { input: unknown } | undefined;
      const ctx = this.context(instanceId, current, (i) => (next = { input: i }));
      const out = await this.drive(ORCHESTRATORS[name]!(ctx));
      if (!next) return out;
      this.trace.continuedAsNew++;
      current = next.input;
    }
  }

  private context(instanceId: string, input: unknown, onContinue: (i: unknown) => void): OrchestrationContext {
    const clock = (): Date => this.now;
    let guids = 0;
    const df = {
      instanceId,
      // Deterministic like durable-functions' newGuid: a name-based id of instance, time and counter.
      newGuid: (iid: string): string => {
        const h = createHash("sha1").update(`${iid}_${clock().getTime()}_${guids++}`).digest("hex");
        return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
      },
      get currentUtcDateTime() { return clock(); },
      isReplaying: false,
      getInput: () => input,
      callActivity: (name: string, i: unknown): Desc => ({ t: "activity", name, input: i }),
      callEntity: (id: { name: string; key: string }, op: string, i: unknown): Desc => ({ t: "entity", key: id.key, op, input: i }),
      callSubOrchestrator: (name: string, i: unknown, iid?: string): Desc => ({ t: "sub", name, input: i, ...(iid ? { instanceId: iid } : {}) }),
      createTimer: (at: Date): Desc => ({ t: "timer", at }),
      continueAsNew: (i: unknown) => onContinue(i),
      setCustomStatus: (s: unknown) => this.trace.statuses.push(structuredClone(s)),
      Task: { all: (tasks: Desc[]): Desc => ({ t: "all", tasks }) },
    };
    return { df } as unknown as OrchestrationContext;
  }

  private async drive(gen: Generator<unknown, unknown, unknown>): Promise<unknown> {
    let step = gen.next();
    while (!step.done) {
      let value: unknown;
      let failed: unknown;
      let ok = true;
      try {
        value = await this.resolve(step.value as Desc);
      } catch (err) {
        ok = false;
        failed = err;
      }
      step = ok ? gen.next(value) : gen.throw(failed);
    }
    return step.value;
  }

  private async resolve(d: Desc): Promise<unknown> {
    switch (d.t) {
      case "activity": {
        await this.beforeActivity(d.name, d.input);
        // The driver runs every sub-orchestration to its end before the next task, so no instance
        // is ever running when an orchestrator asks (the real handler, over a client that knows none).
        if (d.name === CLIENT_ACTIVITIES.instanceStatus) return instanceStatuses({ getStatus: () => Promise.resolve(undefined) }, structuredClone(d.input));
        const output = await runActivity(ACTIVITY_KEYS[d.name]!, structuredClone(d.input), overPorts(this.deps));
        this.trace.activities.push({ name: d.name, input: d.input, output });
        return structuredClone(output);
      }
      case "entity": return this.entity(d.key, d.op, d.input);
      case "sub": return this.run(d.name, structuredClone(d.input), d.instanceId);
      case "timer":
        this.trace.timers.push(d.at);
        if (d.at > this.now) this.now = d.at;
        return undefined;
      case "all": {
        const out: unknown[] = [];
        for (const t of d.tasks) out.push(await this.resolve(t));
        return out;
      }
    }
  }

  entity(key: string, op: string, input: unknown): unknown {
    let state = this.locks.get(key) ?? {};
    let result: unknown;
    keyLockOperation({
      df: {
        operationName: op,
        getState: (init?: () => LockState) => state ?? init?.(),
        setState: (s: LockState) => (state = s),
        getInput: () => structuredClone(input),
        return: (r: unknown) => (result = r),
      },
    } as never);
    this.locks.set(key, state);
    return structuredClone(result);
  }
}
