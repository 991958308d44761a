// What the Durable extension's out-of-process shim does with the actions a JavaScript orchestrator
// returns: replay them against the history in order, allocating sequence numbers the way
// DurableTask.Core does (one per scheduled task, timer, sub-orchestration or entity message, lazily
// for retries and long timers), check each recorded scheduling event against the replayed action at
// the same sequence number (kind and name: DurableTask.Core's non-determinism check), and return the
// scheduling events that are new in this episode.
//
// Completion semantics mirror durable-functions' own task classes (WhenAll fails fast, WhenAny
// completes on the first child, RetryableTask waits on a timer after every failed attempt, long
// timers are split into intervals), so the numbering agrees with the numbering the JS side uses.
import { createHash } from "node:crypto";
import { ev, EventType, eventTypeName, type EntityRequestMessage, type HistoryEvent } from "./history";

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/** An action as it arrives in the orchestrator's JSON output. */
export interface OrchestratorAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsJson;
  instanceId?: string;
  version?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  operation?: string;
  compoundActions?: OrchestratorAction[];
}

export interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface ReplayOptions {
  instanceId: string;
  executionId: string;
  /** Timers longer than this are split (the Azure Storage provider's limit: 6 days). */
  maximumShortTimerMs: number;
  /** Interval of each piece of a split timer (3 days). */
  longRunningTimerIntervalMs: number;
}

export interface ReplayOutcome {
  /** Scheduling events new in this episode, in sequence order. */
  newEvents: HistoryEvent[];
  continueAsNew?: { input: string | null };
  /** Set when replay found the orchestrator non-deterministic or using an unsupported API. */
  violation?: { type: "NonDeterministicOrchestrationException" | "NotSupportedException"; message: string; bare?: boolean };
}

/** JSON text of an action input as the shim serializes it (durable-functions pre-stringifies strings for some actions). */
export function inputJson(value: unknown, preStringified: boolean): string | null {
  if (value === undefined) return null;
  if (preStringified && typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Deterministic request id so a re-run of the same episode after a crash sends the same message. */
export function requestIdFor(instanceId: string, executionId: string, eventId: number): string {
  const h = createHash("sha1").update(`${instanceId}\u0000${executionId}\u0000${eventId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The instance id the extension gives a sub-orchestration started without one. */
export function subOrchestrationIdFor(parentInstanceId: string, eventId: number): string {
  return `${parentInstanceId}:${eventId.toString(16).padStart(16, "0")}`;
}

type Done = (ok: boolean, event: HistoryEvent | undefined) => void;

class Violation extends Error {
  constructor(
    readonly type: "NonDeterministicOrchestrationException" | "NotSupportedException",
    message: string,
    /** The failure's output is the message alone, as DurableTask.Core's own replay check words it. */
    readonly bare = false,
  ) {
    super(message);
  }
}

interface Recorded {
  event: HistoryEvent;
  kind: string;
  name: string;
}

function recordedKind(e: HistoryEvent): Recorded | undefined {
  switch (e.EventType) {
    case EventType.TaskScheduled:
      return { event: e, kind: "activity", name: e.Name ?? "" };
    case EventType.TimerCreated:
      return { event: e, kind: "timer", name: "" };
    case EventType.SubOrchestrationInstanceCreated:
      return { event: e, kind: "subOrchestration", name: e.Name ?? "" };
    case EventType.EventSent: {
      const msg = parseRequest(e.Input);
      return { event: e, kind: "entityMessage", name: `${e.InstanceId ?? ""}#${msg?.op ?? ""}` };
    }
    default:
      return undefined;
  }
}

export function parseRequest(input: string | null | undefined): EntityRequestMessage | undefined {
  if (!input) return undefined;
  try {
    return JSON.parse(input) as EntityRequestMessage;
  } catch {
    return undefined;
  }
}

const kindLabel: Record<string, string> = {
  activity: "an activity task",
  timer: "a durable timer",
  subOrchestration: "a sub-orchestration",
  entityMessage: "an entity operation",
};

class Simulation {
  private nextId = 0;
  private now: Date = new Date(0);
  private readonly recorded = new Map<number, Recorded>();
  private readonly allocated = new Set<number>();
  private readonly waitingById = new Map<number, Done>();
  private readonly waitingByRequest = new Map<string, Done>();
  private readonly waitingByEvent = new Map<string, Done[]>();
  private readonly bufferedEvents = new Map<string, HistoryEvent[]>();
  readonly newEvents: HistoryEvent[] = [];
  continueAsNew: { input: string | null } | undefined;
  private topIndex = 0;
  private stopped = false;

  constructor(
    private readonly actions: OrchestratorAction[],
    private readonly opts: ReplayOptions,
    history: HistoryEvent[],
  ) {
    for (const e of history) {
      const r = recordedKind(e);
      if (r) this.recorded.set(e.EventId, r);
    }
  }

  process(e: HistoryEvent): void {
    switch (e.EventType) {
      case EventType.OrchestratorStarted: {
        const t = new Date(e.Timestamp);
        if (t > this.now) this.now = t;
        return;
      }
      case EventType.ExecutionStarted:
        this.runNextTopLevel();
        return;
      case EventType.TaskScheduled:
      case EventType.TimerCreated:
      case EventType.SubOrchestrationInstanceCreated:
      case EventType.EventSent:
        if (!this.allocated.has(e.EventId)) {
          const r = this.recorded.get(e.EventId);
          // A sub-orchestration: DurableTask.Core's own check (TaskOrchestrationContext), recorded on the
          // real extension when durable-functions schedules nothing after a terminated child
          // (test/support/terminatedSubOrchestrationContract.ts): its wording, and the message alone.
          if (e.EventType === EventType.SubOrchestrationInstanceCreated) {
            throw new Violation(
              "NonDeterministicOrchestrationException",
              `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled a sub-orchestration task with sequence ID ${e.EventId} and name '${e.Name ?? ""}' (version '${e.Version ?? ""}', instance ID '${e.InstanceId ?? ""}'), but the current replay execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this instance had already started running?`,
              true,
            );
          }
          throw new Violation(
            "NonDeterministicOrchestrationException",
            `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled ${kindLabel[r?.kind ?? ""] ?? eventTypeName(e.EventType)} with sequence ID ${e.EventId}${r?.name ? ` and name '${r.name}'` : ""}, but the current replay execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this instance had already started running?`,
          );
        }
        return;
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        this.complete(e.TaskScheduledId, true, e);
        return;
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed:
        this.complete(e.TaskScheduledId, false, e);
        return;
      case EventType.TimerFired:
        this.complete(e.TimerId, true, e);
        return;
      case EventType.EventRaised:
        this.raise(e);
        return;
      default:
        return;
    }
  }

  private complete(id: number | undefined, ok: boolean, e: HistoryEvent): void {
    if (id === undefined) return;
    const done = this.waitingById.get(id);
    if (!done) return;
    this.waitingById.delete(id);
    done(ok, e);
  }

  private raise(e: HistoryEvent): void {
    const name = e.Name ?? "";
    const byRequest = this.waitingByRequest.get(name);
    if (byRequest) {
      this.waitingByRequest.delete(name);
      let ok: boolean;
      try {
        const payload = JSON.parse(e.Input ?? "{}") as { exceptionType?: unknown };
        ok = typeof payload.exceptionType !== "string";
      } catch {
        ok = true;
      }
      byRequest(ok, e);
      return;
    }
    const waiters = this.waitingByEvent.get(name);
    const first = waiters?.shift();
    if (first) {
      first(true, e);
      return;
    }
    const buf = this.bufferedEvents.get(name) ?? [];
    buf.push(e);
    this.bufferedEvents.set(name, buf);
  }

  private runNextTopLevel(): void {
    while (!this.stopped && this.topIndex < this.actions.length) {
      const action = this.actions[this.topIndex]!;
      this.topIndex += 1;
      let finished = false;
      let sync = true;
      this.invoke(action, () => {
        finished = true;
        if (!sync) this.runNextTopLevel();
      });
      sync = false;
      if (!finished) return;
    }
  }

  /** Allocates the next sequence number, checking it against the recorded event at that number. */
  private allocate(kind: string, name: string, build: (id: number) => HistoryEvent): { id: number; event: HistoryEvent } {
    const id = this.nextId++;
    this.allocated.add(id);
    const r = this.recorded.get(id);
    if (r) {
      if (r.kind !== kind || r.name !== name) {
        throw new Violation(
          "NonDeterministicOrchestrationException",
          `Non-Deterministic workflow detected: A previous execution of this orchestration scheduled ${kindLabel[r.kind]} with sequence ID ${id}${r.name ? ` and name '${r.name}'` : ""}, but the current replay execution scheduled ${kindLabel[kind]}${name ? ` named '${name}'` : ""} at that sequence ID. Was a change made to the orchestrator code after this instance had already started running?`,
        );
      }
      return { id, event: r.event };
    }
    const event = build(id);
    this.newEvents.push(event);
    return { id, event };
  }

  private waitFor(id: number, done: Done): void {
    this.waitingById.set(id, done);
  }

  private invoke(a: OrchestratorAction, done: Done): void {
    switch (a.actionType) {
      case ActionType.CallActivity:
        this.callActivity(a, done);
        return;
      case ActionType.CallSubOrchestrator:
        this.callSubOrchestration(a, done);
        return;
      case ActionType.CallActivityWithRetry:
        this.withRetry(a, (d) => this.callActivity(a, d), done);
        return;
      case ActionType.CallSubOrchestratorWithRetry:
        this.withRetry(a, (d) => this.callSubOrchestration(a, d), done);
        return;
      case ActionType.CreateTimer:
        this.createTimer(a, done);
        return;
      case ActionType.WaitForExternalEvent: {
        const name = a.externalEventName ?? "";
        const buffered = this.bufferedEvents.get(name);
        const first = buffered?.shift();
        if (first) {
          done(true, first);
          return;
        }
        const list = this.waitingByEvent.get(name) ?? [];
        list.push(done);
        this.waitingByEvent.set(name, list);
        return;
      }
      case ActionType.CallEntity:
      case ActionType.SignalEntity: {
        const signal = a.actionType === ActionType.SignalEntity;
        const target = a.instanceId ?? "";
        const op = a.operation ?? "";
        const { id, event } = this.allocate("entityMessage", `${target}#${op}`, (eventId) => {
          const msg: EntityRequestMessage = {
            id: requestIdFor(this.opts.instanceId, this.opts.executionId, eventId),
            op,
            signal,
            parent: this.opts.instanceId,
            parentExecution: this.opts.executionId,
          };
          const input = inputJson(a.input, false);
          if (input !== null) msg.input = input;
          return ev(EventType.EventSent, this.now, { EventId: eventId, InstanceId: target, Name: "op", Input: JSON.stringify(msg) });
        });
        void id;
        if (signal) {
          done(true, undefined);
          return;
        }
        const requestId = parseRequest(event.Input)?.id ?? "";
        this.waitingByRequest.set(requestId, done);
        return;
      }
      case ActionType.ContinueAsNew:
        this.continueAsNew = { input: inputJson(a.input, true) };
        this.stopped = true;
        return;
      case ActionType.WhenAll:
        this.whenAll(a.compoundActions ?? [], done);
        return;
      case ActionType.WhenAny:
        this.whenAny(a.compoundActions ?? [], done);
        return;
      case ActionType.CallHttp:
        throw new Violation("NotSupportedException", "[keyrotor] [devhost] context.df.callHttp is not supported by the dev host");
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
        throw new Violation("NotSupportedException", "[keyrotor] [devhost] context.df.lock (critical sections) is not supported: use an entity with tryAcquire/release");
      default:
        throw new Violation("NotSupportedException", `[keyrotor] [devhost] unknown orchestrator action type ${a.actionType}`);
    }
  }

  private callActivity(a: OrchestratorAction, done: Done): void {
    const name = a.functionName ?? "";
    const { id } = this.allocate("activity", name, (eventId) =>
      ev(EventType.TaskScheduled, this.now, { EventId: eventId, Name: name, Version: "", Input: inputJson(a.input, true) }),
    );
    this.waitFor(id, done);
  }

  private callSubOrchestration(a: OrchestratorAction, done: Done): void {
    const name = a.functionName ?? "";
    const { id } = this.allocate("subOrchestration", name, (eventId) =>
      ev(EventType.SubOrchestrationInstanceCreated, this.now, {
        EventId: eventId,
        Name: name,
        Version: a.version ?? "",
        InstanceId: a.instanceId || subOrchestrationIdFor(this.opts.instanceId, eventId),
        Input: inputJson(a.input, false),
      }),
    );
    this.waitFor(id, done);
  }

  private timer(fireAt: Date, done: Done): void {
    const { id } = this.allocate("timer", "", (eventId) => ev(EventType.TimerCreated, this.now, { EventId: eventId, FireAt: fireAt.toISOString() }));
    this.waitFor(id, done);
  }

  private createTimer(a: OrchestratorAction, done: Done): void {
    const finalFireAt = new Date(a.fireAt ?? 0);
    if (finalFireAt.getTime() - this.now.getTime() <= this.opts.maximumShortTimerMs) {
      this.timer(finalFireAt, done);
      return;
    }
    // durable-functions' LongTimerTask: intervals until the remaining time fits one short timer.
    const next = (): Date => {
      const remaining = finalFireAt.getTime() - this.now.getTime();
      return remaining > this.opts.maximumShortTimerMs ? new Date(this.now.getTime() + this.opts.longRunningTimerIntervalMs) : finalFireAt;
    };
    const onFired: Done = (ok, e) => {
      if (finalFireAt > this.now) this.timer(next(), onFired);
      else done(ok, e);
    };
    this.timer(next(), onFired);
  }

  private withRetry(a: OrchestratorAction, attempt: (d: Done) => void, done: Done): void {
    const opts = a.retryOptions ?? { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 1 };
    let attemptNumber = 1;
    let waitingOnTimer = false;
    let lastFailure: HistoryEvent | undefined;
    const onChild: Done = (ok, e) => {
      if (waitingOnTimer) {
        waitingOnTimer = false;
        if (attemptNumber > opts.maxNumberOfAttempts) done(false, lastFailure);
        else attempt(onChild);
        return;
      }
      if (ok) {
        done(true, e);
        return;
      }
      lastFailure = e;
      // DurableTask.Core RetryInterceptor: first * coefficient^(attempt-1), capped; always followed by a timer.
      const coefficient = opts.backoffCoefficient ?? 1;
      let delay = opts.firstRetryIntervalInMilliseconds * Math.pow(coefficient, attemptNumber - 1);
      if (opts.maxRetryIntervalInMilliseconds && opts.maxRetryIntervalInMilliseconds > 0) delay = Math.min(delay, opts.maxRetryIntervalInMilliseconds);
      waitingOnTimer = true;
      attemptNumber += 1;
      this.timer(new Date(this.now.getTime() + delay), onChild);
    };
    attempt(onChild);
  }

  private whenAll(children: OrchestratorAction[], done: Done): void {
    let remaining = children.length;
    let settled = false;
    if (remaining === 0) {
      done(true, undefined);
      return;
    }
    for (const child of children) {
      this.invoke(child, (ok, e) => {
        if (settled) return;
        if (!ok) {
          settled = true;
          done(false, e);
          return;
        }
        remaining -= 1;
        if (remaining === 0) {
          settled = true;
          done(true, e);
        }
      });
    }
  }

  private whenAny(children: OrchestratorAction[], done: Done): void {
    let settled = false;
    for (const child of children) {
      this.invoke(child, (ok, e) => {
        if (settled) return;
        settled = true;
        done(ok, e);
      });
    }
  }
}

/** Replays `actions` (everything the orchestrator has scheduled since it started) against `history`. */
export function replay(history: HistoryEvent[], actions: OrchestratorAction[], opts: ReplayOptions): ReplayOutcome {
  const sim = new Simulation(actions, opts, history);
  try {
    for (const e of history) sim.process(e);
  } catch (err) {
    if (err instanceof Violation) return { newEvents: [], violation: { type: err.type, message: err.message, bare: err.bare } };
    throw err;
  }
  return { newEvents: sim.newEvents, ...(sim.continueAsNew ? { continueAsNew: sim.continueAsNew } : {}) };
}
