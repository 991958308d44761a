// What the dev host persists: instance rows, history (per execution), durable inboxes (external
// events, terminations, entity operations) and entity state. A crash drops everything in memory;
// whatever is here survives and the host resumes from it. Two implementations: memory (survives a
// simulated crash because it stands for the disk) and Azure Table Storage (Azurite), see tableStore.ts.
import type { HistoryEvent } from "./history";

// Suspended: the instance takes messages into its history, but nothing its orchestrator asks for
// happens until it is resumed (DurableTask.Core's ExecutionSuspended/ExecutionResumed).
export type RuntimeStatus = "Pending" | "Running" | "Suspended" | "Completed" | "ContinuedAsNew" | "Failed" | "Terminated";

export const TERMINAL_STATUSES: readonly RuntimeStatus[] = ["Completed", "Failed", "Terminated"];

export function isTerminal(s: RuntimeStatus): boolean {
  return TERMINAL_STATUSES.includes(s);
}

export interface InstanceRow {
  instanceId: string;
  name: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  /** JSON texts (null = none). */
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  /** Committed history length of the current execution: rows beyond it are ignored (torn writes). */
  historyLength: number;
  parentInstanceId?: string;
  parentExecutionId?: string;
  parentTaskId?: number;
  /** Inbox keys the last committed episode applied to history: rows still holding them are
   * leftovers of a crash between the commit and the dequeue. (Not a "highest key": several hosts
   * write inboxes, so keys are unique but not ordered by arrival.) */
  consumedKeys?: string[];
  /** Older rows: highest inbox key already applied (rows at or below it are leftovers). */
  lastConsumedKey?: string;
  failureType?: string;
  /** Executions before this one that continued as new (0 or absent: the first execution). */
  generation?: number;
}

export type InboxPayload =
  | { kind: "event"; name: string; input: string | null }
  | { kind: "terminate"; reason: string | null }
  | { kind: "suspend"; reason: string | null }
  | { kind: "resume"; reason: string | null }
  | { kind: "entityOp"; dedupeId: string; requestId: string; op: string; signal: boolean; input: string | null; parent?: string; parentExecution?: string }
  /** A message from another instance (a sub-orchestration's completion, an entity's response) that
   * goes through storage because this host does not own the target. */
  | { kind: "history"; executionId: string; event: HistoryEvent };

export interface InboxMessage {
  /** Sortable, unique per target. */
  key: string;
  /** Timestamp of arrival (ISO). */
  at: string;
  payload: InboxPayload;
}

export interface EntityRow {
  entityId: string;
  exists: boolean;
  /** JSON text. */
  state: string | null;
  /** Recently processed operations (dedupe id → response JSON for calls, null for signals), oldest first. */
  processed: Array<[string, string | null]>;
  lastOperationTime: string;
}

export interface HistoryStore {
  getInstance(instanceId: string): Promise<InstanceRow | undefined>;
  /**
   * Creates the instance unless a row exists whose status is not in `replaceable`.
   * Atomic per instanceId (one of many concurrent creators wins).
   */
  createInstance(row: InstanceRow, replaceable: readonly RuntimeStatus[]): Promise<{ created: true; replaced?: InstanceRow } | { created: false; existing: InstanceRow }>;
  putInstance(row: InstanceRow): Promise<void>;
  listInstances(): Promise<InstanceRow[]>;
  /** Deletes the instance row, its history and inbox. Returns whether a row existed. */
  deleteInstance(instanceId: string): Promise<boolean>;

  /** Writes events at positions fromIndex.. of the execution's history (overwriting torn leftovers). */
  writeHistory(instanceId: string, executionId: string, fromIndex: number, events: HistoryEvent[]): Promise<void>;
  readHistory(instanceId: string, executionId: string, length: number): Promise<HistoryEvent[]>;
  deleteHistory(instanceId: string, executionId: string): Promise<void>;

  enqueue(targetId: string, message: InboxMessage): Promise<void>;
  readInbox(targetId: string): Promise<InboxMessage[]>;
  dequeue(targetId: string, keys: string[]): Promise<void>;
  /** Targets (instances or entities) that have inbox messages. */
  inboxTargets(): Promise<string[]>;
  /** What a durable host polls for: instances waiting for their first episode (Pending, no history)
   * and targets (instances or entities) with inbox messages. */
  workTargets(): Promise<string[]>;

  /**
   * Claims or renews the lease on a target (instance or entity) for `owner` for `leaseMs` of wall
   * time: succeeds when the target has no lease, an expired one, or one `owner` holds. Atomic: of
   * concurrent claimers one wins. Only the lease holder runs the target's episodes or batches.
   */
  claimLease(targetId: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Drops the lease if `owner` holds it. */
  releaseLease(targetId: string, owner: string): Promise<void>;
  /** Unfinished instances no engine holds an unexpired lease on: the work of an engine that died
   * (its timers and activities lived in its memory) for another one to take over. */
  unleasedInstances(): Promise<string[]>;

  getEntity(entityId: string): Promise<EntityRow | undefined>;
  putEntity(row: EntityRow): Promise<void>;
}

const clone = <T>(v: T): T => structuredClone(v);

/** In-memory store; it outlives `host.crash()` because it plays the part of the disk. */
export class MemoryHistoryStore implements HistoryStore {
  private readonly instances = new Map<string, InstanceRow>();
  private readonly histories = new Map<string, HistoryEvent[]>();
  private readonly inboxes = new Map<string, Map<string, InboxMessage>>();
  private readonly entities = new Map<string, EntityRow>();
  private readonly leases = new Map<string, { owner: string; until: number }>();

  async getInstance(id: string): Promise<InstanceRow | undefined> {
    const r = this.instances.get(id);
    return r ? clone(r) : undefined;
  }

  async createInstance(row: InstanceRow, replaceable: readonly RuntimeStatus[]): Promise<{ created: true; replaced?: InstanceRow } | { created: false; existing: InstanceRow }> {
    const existing = this.instances.get(row.instanceId);
    if (existing && !replaceable.includes(existing.runtimeStatus)) return { created: false, existing: clone(existing) };
    this.instances.set(row.instanceId, clone(row));
    return existing ? { created: true, replaced: clone(existing) } : { created: true };
  }

  async putInstance(row: InstanceRow): Promise<void> {
    this.instances.set(row.instanceId, clone(row));
  }

  async listInstances(): Promise<InstanceRow[]> {
    return [...this.instances.values()].map(clone);
  }

  async deleteInstance(id: string): Promise<boolean> {
    const existed = this.instances.delete(id);
    for (const k of [...this.histories.keys()]) if (k.startsWith(`${id}\u0000`)) this.histories.delete(k);
    this.inboxes.delete(id);
    this.leases.delete(id);
    return existed;
  }

  async writeHistory(id: string, executionId: string, fromIndex: number, events: HistoryEvent[]): Promise<void> {
    const key = `${id}\u0000${executionId}`;
    const h = this.histories.get(key) ?? [];
    h.length = Math.min(h.length, fromIndex);
    if (h.length < fromIndex) throw new Error(`[keyrotor] [devhost] [store] history gap for ${id} at ${h.length} < ${fromIndex}`);
    h.push(...events.map(clone));
    this.histories.set(key, h);
  }

  async readHistory(id: string, executionId: string, length: number): Promise<HistoryEvent[]> {
    return (this.histories.get(`${id}\u0000${executionId}`) ?? []).slice(0, length).map(clone);
  }

  async deleteHistory(id: string, executionId: string): Promise<void> {
    this.histories.delete(`${id}\u0000${executionId}`);
  }

  async enqueue(targetId: string, message: InboxMessage): Promise<void> {
    const box = this.inboxes.get(targetId) ?? new Map<string, InboxMessage>();
    box.set(message.key, clone(message));
    this.inboxes.set(targetId, box);
  }

  async readInbox(targetId: string): Promise<InboxMessage[]> {
    return [...(this.inboxes.get(targetId)?.values() ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(clone);
  }

  async dequeue(targetId: string, keys: string[]): Promise<void> {
    const box = this.inboxes.get(targetId);
    if (!box) return;
    for (const k of keys) box.delete(k);
    if (box.size === 0) this.inboxes.delete(targetId);
  }

  async inboxTargets(): Promise<string[]> {
    return [...this.inboxes.keys()];
  }

  async workTargets(): Promise<string[]> {
    const pending = [...this.instances.values()].filter((r) => r.runtimeStatus === "Pending" && r.historyLength === 0).map((r) => r.instanceId);
    return [...new Set([...pending, ...this.inboxes.keys()])];
  }

  async claimLease(targetId: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = Date.now();
    const held = this.leases.get(targetId);
    if (held && held.owner !== owner && held.until > now) return false;
    this.leases.set(targetId, { owner, until: now + leaseMs });
    return true;
  }

  async releaseLease(targetId: string, owner: string): Promise<void> {
    if (this.leases.get(targetId)?.owner === owner) this.leases.delete(targetId);
  }

  async unleasedInstances(): Promise<string[]> {
    const now = Date.now();
    return [...this.instances.values()].filter((r) => !isTerminal(r.runtimeStatus) && !((this.leases.get(r.instanceId)?.until ?? 0) > now)).map((r) => r.instanceId);
  }

  async getEntity(id: string): Promise<EntityRow | undefined> {
    const r = this.entities.get(id);
    return r ? clone(r) : undefined;
  }

  async putEntity(row: EntityRow): Promise<void> {
    this.entities.set(row.entityId, clone(row));
  }
}
