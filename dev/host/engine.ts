// The durable part of the dev host: what the Durable extension and DurableTask.Core do around the
// JavaScript replay engine. Orchestrator episodes (one at a time per instance), activities (bounded
// concurrency, at-least-once), durable timers on the host clock, sub-orchestrations, continueAsNew,
// entities (batched operations, state, signals, calls answered by EventRaised), external events,
// termination, purge, and a crash that drops all in-memory work so the host resumes from the store.
//
// Persistence protocol (what makes crash+resume safe): an episode writes its new history rows, then
// the instance row (the commit point: its historyLength says how much history is real), then
// removes the consumed inbox rows, then dispatches work. Activity results, timer firings, entity
// responses and sub-orchestration results are in-memory messages when this engine owns their target;
// after a crash they are recomputed from history (activities without a result run again; timers are
// re-armed; finished children and entity results are delivered again, deduplicated by id).
//
// Instances sharing one store (Flex Consumption runs HTTP, durable and timer functions on different
// instances): an engine without the durable role (`durable: false`) only writes instance rows and
// inbox messages and reads status. An engine with it polls the store for work it did not start
// (pending starts, inbox messages), as DurableTask.AzureStorage polls its queues, and runs an
// instance's episodes or an entity's batches only while it holds the target's lease in the store.
// Messages to a target another engine owns go through the target's inbox in the store.
import { randomUUID } from "node:crypto";
import type { HostClock } from "./clock";
import { ev, EventType, type HistoryEvent } from "./history";
import { inputJson, parseRequest, replay, type OrchestratorAction } from "./replay";
import { isTerminal, TERMINAL_STATUSES, type EntityRow, type HistoryStore, type InboxMessage, type InboxPayload, type InstanceRow, type RuntimeStatus } from "./store";
import { coreRegistry, type RegisteredFunction, type RpcParameterBinding } from "./functionsCore";
import { findFunction, invoke, InvocationFailure, triggerOf, typedDataToJson, type UserLog } from "./worker";
import { dotnetException, workerFailure } from "./activityFailure";
import { DEFAULT_VISIBILITY_TIMEOUT_MS } from "./visibility";
import { subOrchestrationFailure } from "./historyView";

export interface EngineOptions {
  store: HistoryStore;
  clock: HostClock;
  maxConcurrentActivities: number;
  log: (line: string) => void;
  userLog: UserLog;
  /** The worker's app hook data, handed to the hooks of every invocation this engine runs. */
  appHookData: Record<string, unknown>;
  /** Largest timer the storage provider accepts before splitting (Azure Storage: 6 days). */
  maximumShortTimerMs?: number;
  /** Interval of the pieces of a split timer (3 days). */
  longRunningTimerIntervalMs?: number;
  /** Operations handed to an entity in one batch. */
  maxEntityBatch?: number;
  /** The extra input bindings of an activity (its durable client), filled as for any trigger. */
  activityInputs?: (fn: RegisteredFunction) => RpcParameterBinding[];
  /** Whether this engine runs orchestrations, activities and entities (default true). Without it
   * the engine is the client of an instance that hosts no durable functions: it writes to the store
   * and reads from it, nothing more. */
  durable?: boolean;
  /** Lease owner name (default: random per engine; kept over crash/resume). */
  owner?: string;
  /** Polling of the store for work: the first interval after work was found (default 100 ms); each
   * empty poll doubles it up to `maxPollingIntervalMs` (default 30 s, DurableTask.AzureStorage's
   * maxQueuePollingInterval). Wall-clock timers: polling is infrastructure, not app time. */
  minPollingIntervalMs?: number;
  maxPollingIntervalMs?: number;
  /** Targets another engine does not hold that one poll takes at most (default 32, like
   * ControlQueueBatchSize): the rest waits for the next poll, of this engine or another. */
  pollBatchSize?: number;
  /** How long a claimed lease lasts without renewal (default 30 s, like a partition lease);
   * renewed every third of it. */
  leaseMs?: number;
  /** How long work this engine had taken when it crashed stays out of reach of resume() (the queues'
   * visibility timeout, visibility.ts; default 5 min). */
  visibilityTimeoutMs?: number;
}

/** What getStatus returns (the extension's status payload, parsed). */
export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: HistoryEvent[];
}

/** A start that hit a Pending/Running instance. The extension's client throws InvalidOperationException
 * with this message (DurableTaskExtension: ThrowExceptionOnInvalidDedupeStatus), which its HTTP API
 * does not catch: the start answers 500 "Something went wrong...", never a 409. */
export class InstanceAlreadyExistsError extends Error {
  constructor(readonly existingStatus: string) {
    super(`An Orchestration instance with the status ${existingStatus} already exists.`);
    this.name = "InvalidOperationException";
  }
}

export class DurableApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "DurableApiError";
  }
}

interface PendingMessage {
  /** Inbox key when the message is persisted. */
  key?: string;
  /** Execution the message belongs to (messages for an older execution are dropped). */
  executionId?: string;
  event?: HistoryEvent;
  payload?: InboxPayload;
}

interface LiveInstance {
  row: InstanceRow;
  history: HistoryEvent[];
  inbox: PendingMessage[];
  /** Keys of persisted inbox messages this engine holds (queued or being applied), until dequeued. */
  keys: Set<string>;
  running: boolean;
  again: boolean;
  /** The store may hold messages (or a new execution) this engine has not seen: look before the next episode. */
  refresh: boolean;
}

interface LiveEntity {
  row: EntityRow;
  inbox: InboxMessage[];
  keys: Set<string>;
  running: boolean;
  again: boolean;
  refresh: boolean;
}

/** An episode this engine ran: which execution, and from which committed history length. */
export interface EpisodeRecord {
  instanceId: string;
  executionId: string;
  historyIndex: number;
}

const DAY = 24 * 3600 * 1000;
// What the Durable extension sends out-of-process orchestrators (OrchestrationTriggerAttributeBindingProvider:
// upperSchemaVersion = SchemaVersion.V2, upperSchemaVersionNew = SchemaVersion.V3; durable-js reads the
// New one): replay schema V3, not the V4 that durable-functions itself could speak.
const EXTENSION_SCHEMA_V2 = 1;
const EXTENSION_SCHEMA_V3 = 2;
const PROCESSED_WINDOW = 2000;
const OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:";

/** Instance ids the Azure Storage provider accepts (its table keys forbid these characters). */
export function validateInstanceId(id: string): void {
  if (!id || id.length > 256 || /[/\\#?]|\p{Cc}/u.test(id)) {
    throw new DurableApiError(400, `Instance ID '${id}' is invalid: it must be 1-256 characters with no '/', '\\', '#', '?' or control characters.`);
  }
}

export function entityInstanceId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

function parseEntityInstanceId(id: string): { name: string; key: string } {
  const pos = id.indexOf("@", 1);
  return { name: id.substring(1, pos), key: id.substring(pos + 1) };
}

/** The reason a terminated instance was given (its output is the reason as JSON text). */
function terminateReason(output: string | null | undefined): string {
  const reason = parseJson(output);
  return reason === null ? "" : typeof reason === "string" ? reason : JSON.stringify(reason);
}

function parseJson(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A completion already in history (or twice in one batch) is dropped, as DurableTask.Core drops a
 * duplicate message: after a takeover or a crash a result can arrive both from the store and again
 * from the restarted work. */
function withoutRepeats(history: HistoryEvent[], messages: PendingMessage[]): PendingMessage[] {
  const answerOf = (e: HistoryEvent): string | undefined => {
    switch (e.EventType) {
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed:
        return `task:${e.TaskScheduledId ?? -1}`;
      case EventType.TimerFired:
        return `timer:${e.TimerId ?? -1}`;
      default:
        return undefined;
    }
  };
  const seen = new Set(history.flatMap((e) => answerOf(e) ?? []));
  return messages.filter((m) => {
    const a = m.event ? answerOf(m.event) : undefined;
    if (a === undefined) return true;
    if (seen.has(a)) return false;
    seen.add(a);
    return true;
  });
}

function semaphore(limit: number): { acquire(): Promise<() => void> } {
  let active = 0;
  const queue: Array<() => void> = [];
  const release = (): void => {
    active -= 1;
    const next = queue.shift();
    if (next) {
      active += 1;
      next();
    }
  };
  return {
    acquire: () =>
      new Promise((resolve) => {
        if (active < limit) {
          active += 1;
          resolve(release);
        } else {
          queue.push(() => resolve(release));
        }
      }),
  };
}

export class DurableEngine {
  private generation = 0;
  private busy = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly instances = new Map<string, Promise<LiveInstance | undefined>>();
  private readonly entities = new Map<string, Promise<LiveEntity>>();
  private readonly activitiesInFlight = new Set<string>();
  private readonly timers = new Map<string, () => void>();
  private readonly storeOps = new Set<Promise<unknown>>();
  private readonly terminalWaiters = new Map<string, Set<(row: InstanceRow) => void>>();
  private readonly maxHistory = new Map<string, number>();
  private slots: { acquire(): Promise<() => void> };
  private lastKey = "";
  private keySeq = 0;
  private readonly maximumShortTimerMs: number;
  private readonly longRunningTimerIntervalMs: number;
  private readonly maxEntityBatch: number;
  /** Activity executions started, by name (for tests proving at-least-once). */
  readonly activityExecutions = new Map<string, number>();
  /** Every episode this engine ran (tests prove no two engines ran the same one). */
  readonly episodes: EpisodeRecord[] = [];
  /** Entity batches this engine ran. */
  entityBatches = 0;
  readonly durable: boolean;
  readonly owner: string;
  /** Targets whose lease this engine holds. */
  private readonly owned = new Set<string>();
  /** Lease operations per target, one after the other (a release never overtakes a claim). */
  private readonly leaseChains = new Map<string, Promise<boolean>>();
  private readonly leaseMs: number;
  /** When crash() ran (host clock), until resume() reads it. */
  private crashedAt: Date | undefined;
  private readonly pollBatchSize: number;
  private readonly minPollMs: number;
  private readonly maxPollMs: number;
  private pollDelay: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EngineOptions) {
    this.durable = opts.durable ?? true;
    this.owner = opts.owner ?? `engine-${randomUUID().slice(0, 8)}`;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollBatchSize = Math.max(1, opts.pollBatchSize ?? 32);
    this.minPollMs = opts.minPollingIntervalMs ?? 100;
    this.maxPollMs = Math.max(this.minPollMs, opts.maxPollingIntervalMs ?? 30_000);
    this.pollDelay = this.minPollMs;
    this.slots = semaphore(opts.maxConcurrentActivities);
    this.maximumShortTimerMs = opts.maximumShortTimerMs ?? 6 * DAY;
    this.longRunningTimerIntervalMs = opts.longRunningTimerIntervalMs ?? 3 * DAY;
    this.maxEntityBatch = opts.maxEntityBatch ?? 50;
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  /** Runs background work, counted for idle(); work of a generation before a crash is not counted. */
  private track(fn: () => Promise<void>): void {
    const gen = this.generation;
    this.busy += 1;
    void fn()
      .catch((err: unknown) => {
        if (gen === this.generation) this.opts.log(`[keyrotor] [devhost] background work failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      })
      .finally(() => {
        if (gen !== this.generation) return;
        this.busy -= 1;
        if (this.busy === 0) {
          // Let follow-up work scheduled in the same turn register before declaring idle.
          setImmediate(() => {
            if (this.busy === 0) for (const w of this.idleWaiters.splice(0)) w();
          });
        }
      });
  }

  private async storeOp<T>(p: Promise<T>): Promise<T> {
    this.storeOps.add(p);
    try {
      return await p;
    } finally {
      this.storeOps.delete(p);
    }
  }

  private newKey(): string {
    const t = Date.now().toString(36).padStart(10, "0");
    this.keySeq += 1;
    // Several engines write one inbox: the owner's name keeps their keys apart.
    let key = `${t}-${this.keySeq.toString(36).padStart(8, "0")}-${this.owner}`;
    if (key <= this.lastKey) key = `${this.lastKey}~`;
    this.lastKey = key;
    return key;
  }

  /** Resolves when no episode, activity, entity batch or delivery is in progress (timers may be pending). */
  idle(): Promise<void> {
    if (this.busy === 0) return new Promise((resolve) => setImmediate(() => (this.busy === 0 ? resolve() : this.idleWaiters.push(resolve))));
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  historyEventCount(instanceId: string): number {
    return this.maxHistory.get(`${instanceId}\u0000current`) ?? 0;
  }

  maxHistoryEventCount(instanceId: string): number {
    return this.maxHistory.get(instanceId) ?? 0;
  }

  // ---- leases and polling (instances sharing one store) ------------------------------------------

  /** Runs lease operations of one target one after the other (a release never overtakes a claim). */
  private leaseOp(targetId: string, op: () => Promise<boolean>): Promise<boolean> {
    const next = (this.leaseChains.get(targetId) ?? Promise.resolve(true)).then(op, op);
    this.leaseChains.set(targetId, next);
    const clear = (): void => {
      if (this.leaseChains.get(targetId) === next) this.leaseChains.delete(targetId);
    };
    next.then(clear, clear);
    return next;
  }

  /** Claims the target's lease, or finds it held by this engine. False: this engine has no durable
   * role, or another engine owns the target (its poller picks the work up from the store). */
  private claim(targetId: string): Promise<boolean> {
    if (!this.durable) return Promise.resolve(false);
    if (this.owned.has(targetId) && !this.leaseChains.has(targetId)) return Promise.resolve(true);
    const gen = this.generation;
    return this.leaseOp(targetId, async () => {
      if (this.owned.has(targetId)) return true;
      const ok = await this.storeOp(this.opts.store.claimLease(targetId, this.owner, this.leaseMs));
      if (!ok || gen !== this.generation) return false;
      this.owned.add(targetId);
      return true;
    });
  }

  private release(targetId: string): Promise<boolean> {
    return this.leaseOp(targetId, async () => {
      if (!this.owned.delete(targetId)) return false;
      await this.storeOp(this.opts.store.releaseLease(targetId, this.owner));
      return true;
    });
  }

  /** Renews every lease held; a lease lost (this engine stalled past its expiry and another took
   * it) drops the target from memory, so this engine runs nothing more of it. */
  private async renewLeases(): Promise<void> {
    for (const id of [...this.owned]) {
      const ok = await this.leaseOp(id, async () => (this.owned.has(id) ? this.storeOp(this.opts.store.claimLease(id, this.owner, this.leaseMs)) : true));
      if (!ok) {
        this.owned.delete(id);
        this.instances.delete(id);
        this.entities.delete(id);
        this.opts.log(`[keyrotor] [devhost] lease on '${id}' lost to another instance: dropped from ${this.owner}`);
      }
    }
  }

  /** Takes over unfinished instances whose lease expired (their engine died: its timers and
   * activities were in its memory): loading one restarts its outstanding work, as resume() does. */
  private async adoptOrphans(): Promise<void> {
    const gen = this.generation;
    let taken = 0;
    for (const id of await this.storeOp(this.opts.store.unleasedInstances())) {
      if (gen !== this.generation || taken >= this.pollBatchSize) return;
      if (this.owned.has(id)) continue;
      const live = await this.acquire(id);
      if (!live || live === "elsewhere") continue;
      taken += 1;
      this.opts.log(`[keyrotor] [devhost] ${this.owner} took over '${id}' (no live lease)`);
      this.kick(id);
    }
  }

  /** Starts polling the store for work and renewing leases (durable engines; crash() stops both). */
  startBackground(): void {
    if (!this.durable || this.pollTimer) return;
    this.pollDelay = this.minPollMs;
    this.schedulePoll();
    this.renewTimer = setInterval(() => {
      this.renewLeases()
        .then(() => this.adoptOrphans())
        .catch((err: unknown) => this.opts.log(`[keyrotor] [devhost] lease renewal failed: ${err instanceof Error ? err.message : String(err)}`));
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private stopBackground(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** As DurableTask.AzureStorage polls its queues: at once again after a poll that found work,
   * doubling the wait after each empty one up to the maximum. */
  private schedulePoll(): void {
    const gen = this.generation;
    const timer = setTimeout(() => {
      this.poll(gen).then(
        (found) => {
          if (gen !== this.generation || this.pollTimer !== timer) return;
          this.pollDelay = found ? this.minPollMs : Math.min(this.maxPollMs, this.pollDelay * 2);
          this.schedulePoll();
        },
        (err: unknown) => {
          this.opts.log(`[keyrotor] [devhost] polling the store failed: ${err instanceof Error ? err.message : String(err)}`);
          if (gen === this.generation && this.pollTimer === timer) this.schedulePoll();
        },
      );
    }, this.pollDelay);
    timer.unref();
    this.pollTimer = timer;
  }

  /** One poll: targets this engine holds look at the store again; of the others it takes at most
   * `pollBatchSize` (as a poll of DurableTask.AzureStorage dequeues at most ControlQueueBatchSize
   * messages), so that several durable instances share the work. */
  private async poll(gen: number): Promise<boolean> {
    const targets = await this.storeOp(this.opts.store.workTargets());
    let found = false;
    let taken = 0;
    for (const t of targets) {
      if (gen !== this.generation) return false;
      const held = this.owned.has(t);
      if (!held && taken >= this.pollBatchSize) {
        found = true;
        continue;
      }
      const woke = await this.wake(t);
      if (woke === "taken") taken += 1;
      if (woke !== "none") found = true;
    }
    return found;
  }

  /** The store may hold work for the target: take the target if no other engine owns it and look.
   * "taken": newly claimed; "new": held here, with work that may be new; "none": nothing for this engine. */
  private async wake(targetId: string): Promise<"taken" | "new" | "none"> {
    const entity = targetId.startsWith("@");
    const cached = entity ? this.entities.get(targetId) : this.instances.get(targetId);
    const live = cached ? await cached : undefined;
    if (live) {
      live.refresh = true;
      if (entity) this.kickEntity(targetId);
      else this.kick(targetId);
      return !live.running && live.inbox.length === 0 ? "new" : "none";
    }
    const held = this.owned.has(targetId);
    if (!(await this.claim(targetId))) return "none";
    if (entity) this.kickEntity(targetId);
    else this.kick(targetId);
    return held ? "new" : "taken";
  }

  // ---- loading ------------------------------------------------------------------------------

  /** The instance as its owner holds it: claims the lease, loads the instance on first use (and
   * restarts its outstanding work). "elsewhere": another engine owns it; undefined: no instance. */
  private async acquire(instanceId: string): Promise<LiveInstance | "elsewhere" | undefined> {
    if (!(await this.claim(instanceId))) return "elsewhere";
    const live = await this.live(instanceId);
    if (!live && !this.instances.has(instanceId)) await this.release(instanceId);
    return live;
  }

  /** Only for the lease holder. */
  private live(instanceId: string): Promise<LiveInstance | undefined> {
    let p = this.instances.get(instanceId);
    if (!p) {
      p = this.loadInstance(instanceId);
      this.instances.set(instanceId, p);
      void p.then((l) => {
        if (!l && this.instances.get(instanceId) === p) this.instances.delete(instanceId);
      });
    }
    return p;
  }

  private async loadInstance(instanceId: string): Promise<LiveInstance | undefined> {
    const gen = this.generation;
    const row = await this.storeOp(this.opts.store.getInstance(instanceId));
    if (!row) return undefined;
    const history = await this.storeOp(this.opts.store.readHistory(instanceId, row.executionId, row.historyLength));
    const stored = await this.storeOp(this.opts.store.readInbox(instanceId));
    const consumed = new Set(row.consumedKeys ?? []);
    const leftover = (key: string): boolean => consumed.has(key) || (row.consumedKeys === undefined && row.lastConsumedKey !== undefined && key <= row.lastConsumedKey);
    const leftovers = stored.filter((m) => leftover(m.key)).map((m) => m.key);
    if (leftovers.length) await this.storeOp(this.opts.store.dequeue(instanceId, leftovers));
    const inbox: PendingMessage[] = stored.filter((m) => !leftover(m.key)).map((m) => this.pendingFrom(m));
    this.noteHistory(instanceId, history.length);
    const live: LiveInstance = { row, history, inbox, keys: new Set(inbox.flatMap((m) => (m.key ? [m.key] : []))), running: false, again: false, refresh: false };
    // Loaded here, run here: whatever the committed history says is outstanding starts again (after
    // a crash, or when this engine takes over an instance another one ran).
    if (!isTerminal(row.runtimeStatus) && history.length > 0) await this.redispatch(live, gen);
    return live;
  }

  private pendingFrom(m: InboxMessage): PendingMessage {
    if (m.payload.kind === "history") return { key: m.key, executionId: m.payload.executionId, event: m.payload.event };
    return { key: m.key, payload: m.payload, event: this.eventFromPayload(m) };
  }

  /** Drops the instance from memory (and its lease) when this live object is still the one held. */
  private async retire(instanceId: string, live: LiveInstance): Promise<void> {
    const p = this.instances.get(instanceId);
    if (!p || (await p) !== live || this.instances.get(instanceId) !== p) return;
    this.instances.delete(instanceId);
    await this.release(instanceId);
  }

  /** Brings the held instance up to date with the store: messages other engines wrote, or a new
   * execution started over a finished one. False: this live object is no longer the instance. */
  private async refreshInstance(live: LiveInstance, gen: number): Promise<boolean> {
    const id = live.row.instanceId;
    const row = await this.storeOp(this.opts.store.getInstance(id));
    if (gen !== this.generation) return false;
    if (!row || row.executionId !== live.row.executionId) {
      await this.retire(id, live);
      if (row) this.kick(id);
      return false;
    }
    const consumed = new Set(row.consumedKeys ?? []);
    for (const m of await this.storeOp(this.opts.store.readInbox(id))) {
      if (live.keys.has(m.key) || consumed.has(m.key)) continue;
      live.keys.add(m.key);
      live.inbox.push(this.pendingFrom(m));
    }
    return true;
  }

  private noteHistory(instanceId: string, length: number): void {
    this.maxHistory.set(`${instanceId}\u0000current`, length);
    this.maxHistory.set(instanceId, Math.max(this.maxHistory.get(instanceId) ?? 0, length));
  }

  private entity(entityId: string): Promise<LiveEntity> {
    let p = this.entities.get(entityId);
    if (!p) {
      p = (async () => {
        const row = (await this.storeOp(this.opts.store.getEntity(entityId))) ?? { entityId, exists: false, state: null, processed: [], lastOperationTime: new Date(0).toISOString() };
        const inbox = await this.storeOp(this.opts.store.readInbox(entityId));
        return { row, inbox, keys: new Set(inbox.map((m) => m.key)), running: false, again: false, refresh: false };
      })();
      this.entities.set(entityId, p);
    }
    return p;
  }

  private eventFromPayload(m: InboxMessage): HistoryEvent | undefined {
    if (m.payload.kind === "event") return ev(EventType.EventRaised, m.at, { Name: m.payload.name, Input: m.payload.input });
    return undefined;
  }

  // ---- client operations ----------------------------------------------------------------------

  async startNew(name: string, instanceId: string | undefined, input: string | null): Promise<string> {
    const fn = findFunction(name);
    if (!fn || triggerOf(fn).type !== "orchestrationTrigger") {
      throw new DurableApiError(400, `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    }
    const id = instanceId ?? randomUUID().replace(/-/g, "");
    validateInstanceId(id);
    const now = this.opts.clock.now().toISOString();
    const row: InstanceRow = {
      instanceId: id,
      name,
      executionId: randomUUID(),
      runtimeStatus: "Pending",
      input,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      historyLength: 0,
    };
    await this.createAndRun(row);
    return id;
  }

  /** Creates the instance (refusing a non-terminal existing one, as the extension does) and starts it. */
  private async createAndRun(row: InstanceRow): Promise<void> {
    const gen = this.generation;
    const res = await this.storeOp(this.opts.store.createInstance(row, TERMINAL_STATUSES));
    if (!res.created) {
      throw new InstanceAlreadyExistsError(res.existing.runtimeStatus);
    }
    if (gen !== this.generation) return;
    if (res.replaced) {
      const old = res.replaced;
      await this.storeOp(this.opts.store.deleteHistory(old.instanceId, old.executionId));
      const stale = await this.storeOp(this.opts.store.readInbox(old.instanceId));
      if (stale.length) await this.storeOp(this.opts.store.dequeue(old.instanceId, stale.map((m) => m.key)));
    }
    this.noteHistory(row.instanceId, 0);
    // Without the durable role, or when another engine owns the id, the start waits in the store for
    // the owner's poller (as an ExecutionStarted message waits in a control queue).
    if (!(await this.claim(row.instanceId)) || gen !== this.generation) return;
    const liveInstance: LiveInstance = { row, history: [], inbox: [], keys: new Set(), running: false, again: false, refresh: false };
    const previous = this.instances.get(row.instanceId);
    this.instances.set(row.instanceId, Promise.resolve(liveInstance));
    if (previous) {
      // A replaced instance may be mid-episode; its loop stops because the live object changed.
      void previous.then((p) => {
        if (p) p.again = false;
      });
    }
    this.kick(row.instanceId);
  }

  /** Read from the store, whoever runs the instance (an episode commits its row before it moves on). */
  async getStatus(instanceId: string, opts: { showHistory?: boolean; showInput?: boolean } = {}): Promise<InstanceStatus | undefined> {
    const row = await this.storeOp(this.opts.store.getInstance(instanceId));
    if (!row) return undefined;
    const status: InstanceStatus = {
      name: row.name,
      instanceId: row.instanceId,
      runtimeStatus: row.runtimeStatus,
      input: opts.showInput === false ? null : parseJson(row.input),
      output: parseJson(row.output),
      customStatus: parseJson(row.customStatus),
      createdTime: row.createdTime,
      lastUpdatedTime: row.lastUpdatedTime,
    };
    if (opts.showHistory) status.historyEvents = await this.storeOp(this.opts.store.readHistory(row.instanceId, row.executionId, row.historyLength));
    return status;
  }

  async listStatuses(filter: { runtimeStatus?: RuntimeStatus[] } = {}): Promise<InstanceStatus[]> {
    const rows = await this.storeOp(this.opts.store.listInstances());
    const out: InstanceStatus[] = [];
    for (const r of rows) {
      if (filter.runtimeStatus?.length && !filter.runtimeStatus.includes(r.runtimeStatus)) continue;
      const s = await this.getStatus(r.instanceId);
      if (s) out.push(s);
    }
    return out;
  }

  async raiseEvent(instanceId: string, eventName: string, input: string | null): Promise<void> {
    await this.enqueueInstance(instanceId, { kind: "event", name: eventName, input });
  }

  async terminate(instanceId: string, reason: string | null): Promise<void> {
    await this.enqueueInstance(instanceId, { kind: "terminate", reason });
  }

  /** Queues a suspend or resume (the caller checks the instance's state first, as the extension's client does). */
  async suspendOrResume(instanceId: string, kind: "suspend" | "resume", reason: string | null): Promise<void> {
    await this.enqueueInstance(instanceId, { kind, reason });
  }

  /** Writes the message to the instance's inbox in the store; the engine that owns the instance
   * takes it from there (this one at once when it can claim the instance, another by polling). */
  private async enqueueInstance(instanceId: string, payload: InboxPayload): Promise<void> {
    const row = await this.storeOp(this.opts.store.getInstance(instanceId));
    if (!row) throw new DurableApiError(404, `No instance with ID '${instanceId}' found.`);
    if (isTerminal(row.runtimeStatus)) throw new DurableApiError(410, `The instance '${instanceId}' has already finished (${row.runtimeStatus}).`);
    const message: InboxMessage = { key: this.newKey(), at: this.opts.clock.now().toISOString(), payload };
    await this.storeOp(this.opts.store.enqueue(instanceId, message));
    if (!(await this.claim(instanceId))) return;
    const cached = this.instances.get(instanceId);
    const live = cached ? await cached : undefined;
    if (live && !live.keys.has(message.key)) {
      live.keys.add(message.key);
      live.inbox.push(this.pendingFrom(message));
    }
    this.kick(instanceId);
  }

  /** Purges a finished instance: 404 when unknown, 412 when not in a terminal state. */
  async purge(instanceId: string): Promise<number> {
    const row = await this.storeOp(this.opts.store.getInstance(instanceId));
    if (!row) return 0;
    if (!isTerminal(row.runtimeStatus)) {
      throw new DurableApiError(412, `Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${row.runtimeStatus}`);
    }
    await this.storeOp(this.opts.store.deleteInstance(instanceId));
    this.instances.delete(instanceId);
    if (this.owned.has(instanceId)) await this.release(instanceId);
    this.maxHistory.delete(instanceId);
    this.maxHistory.delete(`${instanceId}\u0000current`);
    return 1;
  }

  async signalEntity(name: string, key: string, operation: string, input: string | null): Promise<void> {
    const id = randomUUID();
    await this.enqueueEntity(entityInstanceId(name, key), { kind: "entityOp", dedupeId: id, requestId: id, op: operation, signal: true, input });
  }

  /** The entity's state, or undefined when it does not exist. */
  async readEntity(name: string, key: string): Promise<{ exists: boolean; state: unknown }> {
    const id = entityInstanceId(name, key);
    const row = await this.storeOp(this.opts.store.getEntity(id));
    if (!row || !row.exists) return { exists: false, state: undefined };
    return { exists: true, state: parseJson(row.state) };
  }

  /** Resolves with the instance row once it reaches a terminal state. */
  waitForTerminal(instanceId: string, timeoutMs: number): Promise<InstanceRow> {
    return new Promise((resolve, reject) => {
      let set = this.terminalWaiters.get(instanceId);
      if (!set) {
        set = new Set();
        this.terminalWaiters.set(instanceId, set);
      }
      const waiters = set;
      // The instance may run in another engine: its row in the store says when it is done.
      const poll = setInterval(() => {
        this.opts.store.getInstance(instanceId).then((row) => {
          if (row && isTerminal(row.runtimeStatus)) done(row);
        }, () => undefined);
      }, Math.max(5, Math.min(this.minPollMs, 250)));
      poll.unref();
      const timer = setTimeout(() => {
        clearInterval(poll);
        waiters.delete(done);
        void this.getStatus(instanceId).then(
          (s) => reject(new Error(`[keyrotor] [devhost] instance '${instanceId}' did not finish within ${timeoutMs} ms (status: ${s?.runtimeStatus ?? "unknown"})`)),
          reject,
        );
      }, timeoutMs);
      const done = (row: InstanceRow): void => {
        clearTimeout(timer);
        clearInterval(poll);
        waiters.delete(done);
        resolve(row);
      };
      waiters.add(done);
      void this.storeOp(this.opts.store.getInstance(instanceId)).then((row) => {
        if (row && isTerminal(row.runtimeStatus)) done(row);
      });
    });
  }

  // ---- orchestration episodes -------------------------------------------------------------------

  private kick(instanceId: string): void {
    this.track(() => this.drive(instanceId));
  }

  private async drive(instanceId: string): Promise<void> {
    const gen = this.generation;
    const live = await this.acquire(instanceId);
    if (!live || live === "elsewhere" || gen !== this.generation) return;
    if (live.running) {
      live.again = true;
      return;
    }
    live.running = true;
    try {
      for (;;) {
        live.again = false;
        if (gen !== this.generation || (await this.instances.get(instanceId)) !== live) return;
        if (live.refresh) {
          live.refresh = false;
          if (!(await this.refreshInstance(live, gen))) return;
        }
        if (isTerminal(live.row.runtimeStatus)) {
          const keys = live.inbox.splice(0).flatMap((m) => (m.key ? [m.key] : []));
          if (keys.length) await this.storeOp(this.opts.store.dequeue(instanceId, keys));
          for (const k of keys) live.keys.delete(k);
          // Finished: nothing more runs here; a new start of the id is loaded afresh by its owner.
          await this.retire(instanceId, live);
          return;
        }
        const needsStart = live.history.length === 0;
        if (!needsStart && live.inbox.length === 0) return;
        await this.episode(live, gen);
      }
    } finally {
      live.running = false;
      if (live.again && gen === this.generation) this.kick(instanceId);
    }
  }

  private async episode(live: LiveInstance, gen: number): Promise<void> {
    const row = live.row;
    const now = this.opts.clock.now();
    this.episodes.push({ instanceId: row.instanceId, executionId: row.executionId, historyIndex: live.history.length });
    const taken = live.inbox.splice(0);
    const messages = withoutRepeats(live.history, taken.filter((m) => !m.executionId || m.executionId === row.executionId));
    const persistedKeys = taken.flatMap((m) => (m.key ? [m.key] : []));
    const newEvents: HistoryEvent[] = [ev(EventType.OrchestratorStarted, now)];
    if (live.history.length === 0) {
      newEvents.push(
        ev(EventType.ExecutionStarted, now, {
          Name: row.name,
          Version: "",
          Input: row.input,
          Generation: row.generation ?? 0,
          OrchestrationInstance: { InstanceId: row.instanceId, ExecutionId: row.executionId },
          ...(row.parentInstanceId
            ? { ParentInstance: { Name: "", TaskScheduleId: row.parentTaskId ?? -1, OrchestrationInstance: { InstanceId: row.parentInstanceId, ExecutionId: row.parentExecutionId ?? "" } } }
            : {}),
        }),
      );
    }
    let status: RuntimeStatus;
    let output: string | null;
    let customStatus = row.customStatus;
    let failureType: string | undefined;
    let continueAsNew: { input: string | null } | undefined;
    const terminate = messages.find((m) => m.payload?.kind === "terminate");
    if (terminate && terminate.payload?.kind === "terminate") {
      const reason = terminate.payload.reason;
      // The reason is stored as written (DurableTask.Core's ExecutionTerminatedEvent.Input); the
      // status reads it as JSON where it parses, as the extension does.
      newEvents.push(ev(EventType.ExecutionTerminated, now, { Input: reason }));
      status = "Terminated";
      output = reason;
    } else {
      // Suspend and resume are history events like any message (DurableTask.Core). A suspended
      // instance takes messages into its history, but nothing its orchestrator asks for happens
      // until it is resumed; its output is the last suspend or resume reason, as the Azure Storage
      // provider writes it.
      let suspended = row.runtimeStatus === "Suspended";
      let reasonOutput: { value: string | null } | undefined;
      for (const m of messages) {
        const p = m.payload;
        if (p?.kind === "suspend" || p?.kind === "resume") {
          suspended = p.kind === "suspend";
          reasonOutput = { value: p.reason };
          newEvents.push(ev(suspended ? EventType.ExecutionSuspended : EventType.ExecutionResumed, now, p.reason === null ? {} : { Reason: p.reason }));
        } else if (m.event) newEvents.push(m.event);
      }
      const result = await this.runOrchestrator(live, newEvents);
      if (gen !== this.generation) return;
      if (suspended) {
        // The worker still runs on what arrived (its custom status applies, as on the real
        // extension), but what it asks for (new tasks, completion) is held: the run after the
        // resume asks for it again.
        status = "Suspended";
        output = reasonOutput ? reasonOutput.value : row.output;
        customStatus = result.customStatus;
      } else {
        newEvents.push(...result.scheduled);
        status = result.status;
        output = result.status === "Running" && !result.continueAsNew ? (reasonOutput ? reasonOutput.value : row.output) : result.output;
        customStatus = result.customStatus;
        failureType = result.failureType;
        continueAsNew = result.continueAsNew;
      }
    }
    if (isTerminal(status)) {
      newEvents.push(ev(EventType.ExecutionCompleted, now, { OrchestrationStatus: status, Result: output }));
    } else if (continueAsNew) {
      newEvents.push(ev(EventType.ContinueAsNew, now, { Result: continueAsNew.input }));
    }
    newEvents.push(ev(EventType.OrchestratorCompleted, now));

    const start = live.history.length;
    await this.storeOp(this.opts.store.writeHistory(row.instanceId, row.executionId, start, newEvents));
    if (gen !== this.generation) return;
    const { lastConsumedKey: _older, ...current } = row;
    let next: InstanceRow = {
      ...current,
      runtimeStatus: status,
      output,
      customStatus,
      lastUpdatedTime: now.toISOString(),
      historyLength: start + newEvents.length,
      consumedKeys: persistedKeys,
      ...(failureType ? { failureType } : {}),
    };
    if (continueAsNew) {
      next = { ...next, executionId: randomUUID(), input: continueAsNew.input, output: null, historyLength: 0, runtimeStatus: "Running", generation: (row.generation ?? 0) + 1 };
    }
    await this.storeOp(this.opts.store.putInstance(next));
    if (gen !== this.generation) return;
    live.row = next;
    this.noteHistory(row.instanceId, start + newEvents.length);
    if (continueAsNew) {
      live.history = [];
      this.noteHistory(row.instanceId, 0);
      await this.storeOp(this.opts.store.deleteHistory(row.instanceId, row.executionId));
    } else {
      live.history.push(...newEvents);
    }
    if (persistedKeys.length) await this.storeOp(this.opts.store.dequeue(row.instanceId, persistedKeys));
    for (const k of persistedKeys) live.keys.delete(k);
    if (gen !== this.generation) return;
    // After continueAsNew only messages already sent (entity signals) still matter.
    if (continueAsNew) await this.dispatch(row, newEvents.filter((e) => e.EventType === EventType.EventSent), gen);
    else await this.dispatch(next, newEvents, gen);
    if (isTerminal(status)) await this.finished(next);
  }

  private async runOrchestrator(
    live: LiveInstance,
    newEvents: HistoryEvent[],
  ): Promise<{ scheduled: HistoryEvent[]; status: RuntimeStatus; output: string | null; customStatus: string | null; failureType?: string; continueAsNew?: { input: string | null } }> {
    const row = live.row;
    const fail = (type: string, message: string): { scheduled: HistoryEvent[]; status: RuntimeStatus; output: string; customStatus: string | null; failureType: string } => ({
      scheduled: [],
      status: "Failed",
      output: JSON.stringify(`Orchestrator function '${row.name}' failed: ${message}`),
      customStatus: row.customStatus,
      failureType: type,
    });
    const fn = findFunction(row.name);
    if (!fn || triggerOf(fn).type !== "orchestrationTrigger") {
      return fail("FunctionNotFound", `The function '${row.name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    }
    const all = [...live.history, ...newEvents];
    let lastStarted = 0;
    all.forEach((e, i) => {
      if (e.EventType === EventType.OrchestratorStarted) lastStarted = i;
    });
    const history = all.map((e, i) => ({ ...e, IsPlayed: i < lastStarted }));
    const payload = {
      history,
      input: row.input === null ? undefined : parseJson(row.input),
      instanceId: row.instanceId,
      isReplaying: live.history.length > 0,
      parentInstanceId: row.parentInstanceId,
      upperSchemaVersion: EXTENSION_SCHEMA_V2,
      upperSchemaVersionNew: EXTENSION_SCHEMA_V3,
      longRunningTimerIntervalDuration: "3.00:00:00",
      maximumShortTimerDuration: "6.00:00:00",
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    let state: { isDone?: boolean; actions?: OrchestratorAction[][]; output?: unknown; customStatus?: unknown; error?: unknown } | undefined;
    let errorMessage: string | undefined;
    try {
      const resp = await invoke(fn, { inputData: [{ name: triggerOf(fn).name, data: { json: JSON.stringify(payload) } }] }, this.opts.userLog, this.opts.appHookData);
      const json = typedDataToJson(resp.returnValue);
      state = json ? (JSON.parse(json) as typeof state) : undefined;
    } catch (err) {
      if (!(err instanceof InvocationFailure)) throw err;
      const at = err.message.lastIndexOf(OUT_OF_PROC_LABEL);
      if (at >= 0) {
        state = JSON.parse(err.message.slice(at + OUT_OF_PROC_LABEL.length)) as typeof state;
        // durable-functions puts the orchestrator's error in the state (the message prefix is not it).
        errorMessage = typeof state?.error === "string" ? state.error : err.message.slice(0, at);
      } else {
        errorMessage = err.message;
      }
    }
    const customStatus = state?.customStatus !== undefined && state.customStatus !== null ? JSON.stringify(state.customStatus) : null;
    const actions = state?.actions?.[0] ?? [];
    const outcome = replay(history, actions, {
      instanceId: row.instanceId,
      executionId: row.executionId,
      maximumShortTimerMs: this.maximumShortTimerMs,
      longRunningTimerIntervalMs: this.longRunningTimerIntervalMs,
    });
    if (outcome.violation) {
      this.opts.log(`[keyrotor] [devhost] ${row.name} (${row.instanceId}): ${outcome.violation.type}: ${outcome.violation.message}`);
      if (outcome.violation.bare) return { ...fail(outcome.violation.type, ""), output: JSON.stringify(outcome.violation.message), customStatus };
      return { ...fail(outcome.violation.type, `${outcome.violation.type}: ${outcome.violation.message}`), customStatus };
    }
    if (errorMessage !== undefined) return { ...fail("Error", errorMessage), customStatus };
    if (outcome.continueAsNew) return { scheduled: outcome.newEvents, status: "Running", output: null, customStatus, continueAsNew: outcome.continueAsNew };
    if (state?.isDone) {
      return { scheduled: outcome.newEvents, status: "Completed", output: state.output === undefined ? null : JSON.stringify(state.output), customStatus };
    }
    return { scheduled: outcome.newEvents, status: "Running", output: null, customStatus };
  }

  /** Starts the work that new scheduling events ask for. Idempotent: resume calls it again. */
  private async dispatch(row: InstanceRow, events: HistoryEvent[], gen: number): Promise<void> {
    for (const e of events) {
      if (gen !== this.generation) return;
      switch (e.EventType) {
        case EventType.TaskScheduled:
          this.startActivity(row, e);
          break;
        case EventType.TimerCreated:
          this.armTimer(row, e);
          break;
        case EventType.SubOrchestrationInstanceCreated:
          await this.startChild(row, e);
          break;
        case EventType.EventSent:
          await this.sendEntityMessage(e);
          break;
        default:
          break;
      }
    }
  }

  private deliver(instanceId: string, executionId: string, event: HistoryEvent): void {
    const gen = this.generation;
    this.track(async () => {
      const live = await this.acquire(instanceId);
      if (!live || gen !== this.generation) return;
      if (live === "elsewhere") {
        // Another engine owns the target: the message goes through its inbox in the store.
        const message: InboxMessage = { key: this.newKey(), at: this.opts.clock.now().toISOString(), payload: { kind: "history", executionId, event } };
        await this.storeOp(this.opts.store.enqueue(instanceId, message));
        return;
      }
      live.inbox.push({ executionId, event });
      this.kick(instanceId);
    });
  }

  private async finished(row: InstanceRow): Promise<void> {
    for (const w of [...(this.terminalWaiters.get(row.instanceId) ?? [])]) w(row);
    if (row.parentInstanceId && row.parentExecutionId && row.parentTaskId !== undefined) this.notifyParent(row);
  }

  private notifyParent(child: InstanceRow): void {
    const at = this.opts.clock.now();
    const event =
      child.runtimeStatus === "Completed"
        ? ev(EventType.SubOrchestrationInstanceCompleted, at, { TaskScheduledId: child.parentTaskId!, Result: child.output })
        : child.runtimeStatus === "Failed"
          ? ev(EventType.SubOrchestrationInstanceFailed, at, subOrchestrationFailure(child.parentTaskId!, child.name, child.output))
          : // Terminated: DurableTask.Core hands the parent the terminate reason as Reason and no Details
            // (recorded on the real extension: test/support/terminatedSubOrchestrationContract.ts).
            ev(EventType.SubOrchestrationInstanceFailed, at, {
              TaskScheduledId: child.parentTaskId!,
              Reason: terminateReason(child.output),
            });
    this.deliver(child.parentInstanceId!, child.parentExecutionId!, event);
  }

  // ---- activities -----------------------------------------------------------------------------

  private startActivity(row: InstanceRow, scheduled: HistoryEvent): void {
    const key = `${row.instanceId}\u0000${row.executionId}\u0000${scheduled.EventId}`;
    if (this.activitiesInFlight.has(key)) return;
    this.activitiesInFlight.add(key);
    const gen = this.generation;
    const slots = this.slots;
    this.track(async () => {
      const release = await slots.acquire();
      let event: HistoryEvent;
      const name = scheduled.Name ?? "";
      try {
        if (gen !== this.generation) return;
        this.activityExecutions.set(name, (this.activityExecutions.get(name) ?? 0) + 1);
        event = await this.runActivity(name, scheduled);
      } finally {
        release();
        if (gen === this.generation) this.activitiesInFlight.delete(key);
      }
      if (gen !== this.generation) return;
      this.deliver(row.instanceId, row.executionId, event);
    });
  }

  private async runActivity(name: string, scheduled: HistoryEvent): Promise<HistoryEvent> {
    const fn = findFunction(name);
    const failed = (reason: string, details: string): HistoryEvent =>
      ev(EventType.TaskFailed, this.opts.clock.now(), { TaskScheduledId: scheduled.EventId, Reason: reason, Details: details });
    if (!fn || triggerOf(fn).type !== "activityTrigger") {
      return failed(`The function '${name}' doesn't exist, is disabled, or is not an activity function.`, "");
    }
    try {
      const input = scheduled.Input;
      const resp = await invoke(
        fn,
        { inputData: [{ name: triggerOf(fn).name, data: input === null || input === undefined ? null : { json: input } }, ...(this.opts.activityInputs?.(fn) ?? [])] },
        this.opts.userLog,
        this.opts.appHookData,
      );
      return ev(EventType.TaskCompleted, this.opts.clock.now(), { TaskScheduledId: scheduled.EventId, Result: typedDataToJson(resp.returnValue) });
    } catch (err) {
      if (!(err instanceof InvocationFailure)) throw err;
      if (err.remoteName === "FunctionTimeoutException") {
        // Raised by the host, not by the worker: one line, no worker stack.
        return failed(`Activity function '${name}' failed: ${err.message}`, JSON.stringify(dotnetException("Microsoft.Azure.WebJobs.Host.FunctionTimeoutException, Microsoft.Azure.WebJobs.Host", err.message, null)));
      }
      return failed(...workerFailure(name, err));
    }
  }

  // ---- timers --------------------------------------------------------------------------------

  private armTimer(row: InstanceRow, created: HistoryEvent): void {
    const key = `${row.instanceId}\u0000${row.executionId}\u0000${created.EventId}`;
    if (this.timers.has(key)) return;
    const fireAt = created.FireAt ?? new Date(0).toISOString();
    const gen = this.generation;
    const cancel = this.opts.clock.schedule(new Date(fireAt), () => {
      this.timers.delete(key);
      if (gen !== this.generation) return;
      this.deliver(row.instanceId, row.executionId, ev(EventType.TimerFired, this.opts.clock.now(), { TimerId: created.EventId, FireAt: fireAt }));
    });
    this.timers.set(key, cancel);
  }

  // ---- sub-orchestrations ------------------------------------------------------------------------

  private async startChild(parent: InstanceRow, created: HistoryEvent): Promise<void> {
    const childId = created.InstanceId ?? "";
    const existing = await this.storeOp(this.opts.store.getInstance(childId));
    const ours = existing && existing.parentInstanceId === parent.instanceId && existing.parentExecutionId === parent.executionId && existing.parentTaskId === created.EventId;
    if (existing && ours) {
      if (isTerminal(existing.runtimeStatus)) this.notifyParent(existing);
      else this.kick(childId);
      return;
    }
    const now = this.opts.clock.now().toISOString();
    const row: InstanceRow = {
      instanceId: childId,
      name: created.Name ?? "",
      executionId: randomUUID(),
      runtimeStatus: "Pending",
      input: created.Input ?? null,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      historyLength: 0,
      parentInstanceId: parent.instanceId,
      parentExecutionId: parent.executionId,
      parentTaskId: created.EventId,
    };
    try {
      validateInstanceId(childId);
      await this.createAndRun(row);
    } catch (err) {
      if (err instanceof InstanceAlreadyExistsError) {
        // Azure Storage discards an ExecutionStarted message for an instance that is still running:
        // the parent gets no failure event and waits (a child id must be new for every execution).
        this.opts.log(`[keyrotor] [devhost] ${parent.name} (${parent.instanceId}): sub-orchestration ${childId} not started: ${err.message} The start message is discarded, as Azure Storage does; the parent waits.`);
        return;
      }
      this.deliver(
        parent.instanceId,
        parent.executionId,
        ev(EventType.SubOrchestrationInstanceFailed, this.opts.clock.now(), {
          TaskScheduledId: created.EventId,
          Reason: `Sub-orchestration '${row.name}' could not be started: ${err instanceof Error ? err.message : String(err)}`,
          Details: "",
        }),
      );
    }
  }

  // ---- entities -------------------------------------------------------------------------------

  private async sendEntityMessage(sent: HistoryEvent): Promise<void> {
    const msg = parseRequest(sent.Input);
    if (!msg) return;
    await this.enqueueEntity(sent.InstanceId ?? "", {
      kind: "entityOp",
      dedupeId: msg.id,
      requestId: msg.id,
      op: msg.op,
      signal: msg.signal,
      input: msg.input ?? null,
      ...(msg.parent ? { parent: msg.parent } : {}),
      ...(msg.parentExecution ? { parentExecution: msg.parentExecution } : {}),
    });
  }

  /** Writes the operation to the entity's inbox in the store; its owner runs it (this engine at
   * once when it can claim the entity, another by polling). */
  private async enqueueEntity(entityId: string, payload: InboxPayload): Promise<void> {
    const message: InboxMessage = { key: this.newKey(), at: this.opts.clock.now().toISOString(), payload };
    await this.storeOp(this.opts.store.enqueue(entityId, message));
    if (!(await this.claim(entityId))) return;
    const live = await this.entity(entityId);
    if (!live.keys.has(message.key)) {
      live.keys.add(message.key);
      live.inbox.push(message);
    }
    this.kickEntity(entityId);
  }

  private kickEntity(entityId: string): void {
    this.track(() => this.driveEntity(entityId));
  }

  private async driveEntity(entityId: string): Promise<void> {
    const gen = this.generation;
    if (!(await this.claim(entityId))) return;
    const held = this.entity(entityId);
    const live = await held;
    if (gen !== this.generation) return;
    if (live.running) {
      live.again = true;
      return;
    }
    live.running = true;
    try {
      // Stops when the lease was lost (renewal failed: the entity was dropped from memory).
      while (gen === this.generation && this.entities.get(entityId) === held) {
        if (live.refresh) {
          live.refresh = false;
          for (const m of await this.storeOp(this.opts.store.readInbox(entityId))) {
            if (live.keys.has(m.key)) continue;
            live.keys.add(m.key);
            live.inbox.push(m);
          }
        }
        if (live.inbox.length === 0) break;
        live.again = false;
        await this.entityBatch(entityId, live, gen);
      }
    } finally {
      live.running = false;
      if (live.again && gen === this.generation && live.inbox.length > 0) this.kickEntity(entityId);
    }
  }

  private async entityBatch(entityId: string, live: LiveEntity, gen: number): Promise<void> {
    const batch = live.inbox.splice(0, this.maxEntityBatch);
    const processed = new Map(live.row.processed);
    const responses: Array<{ parent: string; parentExecution: string; requestId: string; response: string }> = [];
    const fresh: Array<Extract<InboxPayload, { kind: "entityOp" }>> = [];
    const seen = new Set<string>();
    for (const m of batch) {
      if (m.payload.kind !== "entityOp") continue;
      const p = m.payload;
      if (processed.has(p.dedupeId) || seen.has(p.dedupeId)) {
        const cached = processed.get(p.dedupeId);
        if (!p.signal && cached && p.parent && p.parentExecution) responses.push({ parent: p.parent, parentExecution: p.parentExecution, requestId: p.requestId, response: cached });
        continue;
      }
      seen.add(p.dedupeId);
      fresh.push(p);
    }
    let row = live.row;
    if (fresh.length > 0) {
      this.entityBatches += 1;
      const { name, key } = parseEntityInstanceId(entityId);
      const fn = [...coreRegistry().functions.values()].find((f) => f.metadata.name.toLowerCase() === name && triggerOf(f).type === "entityTrigger");
      const results: Array<{ isError: boolean; result?: string }> = [];
      let next: { exists: boolean; state: string | null } = { exists: row.exists, state: row.state };
      const outgoing: Array<{ target: string; payload: InboxPayload }> = [];
      if (!fn) {
        for (let i = 0; i < fresh.length; i++) results.push({ isError: true, result: JSON.stringify(`The entity '${name}' is not registered`) });
      } else {
        try {
          const resp = await invoke(
            fn,
            {
              inputData: [
                {
                  name: triggerOf(fn).name,
                  data: {
                    json: JSON.stringify({
                      self: { name, key },
                      exists: row.exists,
                      // null for an entity without state, as the extension sends it (not left out).
                      state: row.state,
                      // The extension's shape (EntityTriggerAttributeBindingProvider): no request id.
                      batch: fresh.map((p) => ({ name: p.op, input: p.input ?? undefined, isSignal: p.signal })),
                    }),
                  },
                },
              ],
            },
            this.opts.userLog,
            this.opts.appHookData,
          );
          const out = JSON.parse(typedDataToJson(resp.returnValue) ?? "{}") as {
            entityExists?: boolean;
            entityState?: string;
            results?: Array<{ isError: boolean; result?: string }>;
            signals?: Array<{ target: { name: string; key: string }; name: string; input?: string }>;
          };
          next = { exists: out.entityExists ?? false, state: out.entityExists ? (out.entityState ?? null) : null };
          for (let i = 0; i < fresh.length; i++) results.push(out.results?.[i] ?? { isError: false });
          // Signals carry no request id (the batch had none): number them within the batch, which a
          // re-run after a crash rebuilds from the same inbox.
          const batchId = fresh[0]?.dedupeId ?? "";
          let n = 0;
          for (const s of out.signals ?? []) {
            const dedupeId = `${entityId}:${batchId}:${n++}`;
            outgoing.push({
              target: entityInstanceId(s.target.name, s.target.key),
              payload: { kind: "entityOp", dedupeId, requestId: randomUUID(), op: s.name, signal: true, input: s.input ? s.input : null },
            });
          }
        } catch (err) {
          if (!(err instanceof InvocationFailure)) throw err;
          results.length = 0;
          for (let i = 0; i < fresh.length; i++) results.push({ isError: true, result: JSON.stringify(err.message) });
        }
      }
      if (gen !== this.generation) return;
      for (const o of outgoing) await this.enqueueEntity(o.target, o.payload);
      const newProcessed: Array<[string, string | null]> = [...row.processed];
      fresh.forEach((p, i) => {
        const r = results[i]!;
        const response = JSON.stringify({ ...(r.result !== undefined ? { result: r.result } : {}), ...(r.isError ? { exceptionType: "Error" } : {}) });
        newProcessed.push([p.dedupeId, p.signal ? null : response]);
        if (!p.signal && p.parent && p.parentExecution) responses.push({ parent: p.parent, parentExecution: p.parentExecution, requestId: p.requestId, response });
      });
      row = { ...row, ...next, processed: newProcessed.slice(-PROCESSED_WINDOW), lastOperationTime: this.opts.clock.now().toISOString() };
      await this.storeOp(this.opts.store.putEntity(row));
      if (gen !== this.generation) return;
      live.row = row;
    }
    const keys = batch.map((m) => m.key);
    await this.storeOp(this.opts.store.dequeue(entityId, keys));
    for (const k of keys) live.keys.delete(k);
    if (gen !== this.generation) return;
    for (const r of responses) this.deliver(r.parent, r.parentExecution, ev(EventType.EventRaised, this.opts.clock.now(), { Name: r.requestId, Input: r.response }));
  }

  // ---- crash and resume ----------------------------------------------------------------------

  /** Drops all in-memory work as a process crash would; in-flight activities are abandoned. */
  async crash(): Promise<void> {
    this.crashedAt = this.opts.clock.now();
    this.generation += 1;
    this.stopBackground();
    // Leases stay in the store under this engine's name: resume() takes them back at once, another
    // engine once they expire.
    this.owned.clear();
    this.leaseChains.clear();
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.instances.clear();
    this.entities.clear();
    this.activitiesInFlight.clear();
    this.slots = semaphore(this.opts.maxConcurrentActivities);
    this.busy = 0;
    // Writes already handed to the store complete (they reached the disk); nothing new starts.
    await Promise.allSettled([...this.storeOps]);
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Reloads every unfinished instance and entity inbox from the store and restarts their work. After
   * crash() that happens only once `visibilityTimeoutMs` (default: the engine's option, 5 min) has
   * passed since the crash, as DurableTask.AzureStorage hands a killed host's dequeued messages out
   * again only when their visibility timeout ends; work that arrives meanwhile runs at once. Without a
   * crash in this engine (a new process) nothing is held unless `visibilityTimeoutMs` says so: a
   * cleanly stopped host hands its messages back.
   */
  async resume(opts: { visibilityTimeoutMs?: number } = {}): Promise<void> {
    if (!this.durable) return;
    const crashedAt = this.crashedAt;
    this.crashedAt = undefined;
    const holdMs = opts.visibilityTimeoutMs ?? (crashedAt ? (this.opts.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS) : 0);
    const visibleAt = new Date((crashedAt ?? this.opts.clock.now()).getTime() + holdMs);
    if (holdMs > 0 && visibleAt > this.opts.clock.now()) {
      const gen = this.generation;
      const key = "\u0000visibilityTimeout";
      this.opts.log(`[keyrotor] [devhost] work taken before the crash stays invisible until ${visibleAt.toISOString()} (queue visibility timeout ${holdMs} ms; resume({ visibilityTimeoutMs }) sets it)`);
      this.timers.get(key)?.();
      this.timers.set(key, this.opts.clock.schedule(visibleAt, () => {
        this.timers.delete(key);
        if (gen !== this.generation) return;
        this.resumeNow().catch((err: unknown) => this.opts.log(`[keyrotor] [devhost] resume failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
      }));
      return;
    }
    await this.resumeNow();
  }

  private async resumeNow(): Promise<void> {
    const gen = this.generation;
    this.startBackground();
    const rows = await this.storeOp(this.opts.store.listInstances());
    for (const r of rows) {
      if (gen !== this.generation) return;
      if (isTerminal(r.runtimeStatus)) continue;
      // Loading restarts the outstanding work (loadInstance); another engine's instances stay there.
      const live = await this.acquire(r.instanceId);
      if (!live || live === "elsewhere") continue;
      this.kick(r.instanceId);
    }
    for (const target of await this.storeOp(this.opts.store.inboxTargets())) {
      if (gen !== this.generation) return;
      await this.wake(target);
    }
  }

  /** Restarts whatever the committed history says is still outstanding. */
  private async redispatch(live: LiveInstance, gen: number): Promise<void> {
    const h = live.history;
    const answered = new Set<number>();
    const raised = new Set<string>();
    let lastStarted = 0;
    h.forEach((e, i) => {
      if (e.EventType === EventType.TaskCompleted || e.EventType === EventType.TaskFailed) answered.add(e.TaskScheduledId ?? -1);
      if (e.EventType === EventType.SubOrchestrationInstanceCompleted || e.EventType === EventType.SubOrchestrationInstanceFailed) answered.add(e.TaskScheduledId ?? -1);
      if (e.EventType === EventType.TimerFired) answered.add(e.TimerId ?? -1);
      if (e.EventType === EventType.EventRaised && e.Name) raised.add(e.Name);
      if (e.EventType === EventType.OrchestratorStarted) lastStarted = i;
    });
    const outstanding = h.filter((e, i) => {
      switch (e.EventType) {
        case EventType.TaskScheduled:
        case EventType.TimerCreated:
        case EventType.SubOrchestrationInstanceCreated:
          return !answered.has(e.EventId);
        case EventType.EventSent: {
          const msg = parseRequest(e.Input);
          // Messages of the last episode may not have been sent; unanswered calls are re-sent (deduplicated).
          return i > lastStarted || (msg !== undefined && !msg.signal && !raised.has(msg.id));
        }
        default:
          return false;
      }
    });
    await this.dispatch(live.row, outstanding, gen);
  }

  /** Stops timers and polling and hands the leases back (another instance may take over at once);
   * in-flight work is abandoned. */
  async stop(): Promise<void> {
    this.stopBackground();
    for (const id of [...this.owned]) {
      await this.release(id).catch((err: unknown) => this.opts.log(`[keyrotor] [devhost] releasing the lease on '${id}' failed: ${err instanceof Error ? err.message : String(err)}`));
    }
    await this.crash();
    this.crashedAt = undefined; // a clean stop: nothing stays invisible
  }

  /** Makes a JSON text out of a value for client APIs. */
  static json(value: unknown): string | null {
    return inputJson(value, false);
  }
}
