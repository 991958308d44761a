// The Service Bus peer's entities: queues, topics and subscriptions, each subscription and queue a
// message store with its own dead-letter queue. Transport-free: the AMQP layer (amqp.ts) only
// translates frames into calls on these objects. Semantics follow Service Bus where keyrotor and
// the SDK can observe them: sequence numbers, peek-lock with lock expiry and delivery counts,
// max delivery count, duplicate detection by message id within a window, scheduled messages.
import { randomUUID } from "node:crypto";

export interface EntitySettings {
  lockDurationMs: number;
  maxDeliveryCount: number;
  /** 0 = duplicate detection off. */
  duplicateDetectionWindowMs: number;
}

/** A decoded AMQP message as rhea represents it: header and properties fields flattened. */
export interface AmqpMessage {
  message_id?: unknown;
  message_annotations?: Record<string, unknown>;
  application_properties?: Record<string, unknown>;
  [field: string]: unknown;
}

export type MessageState = "active" | "deferred" | "scheduled";

export interface StoredMessage {
  readonly sequenceNumber: number;
  readonly enqueuedAt: number;
  /** The decoded AMQP message as the sender sent it (the peer adds annotations on delivery). */
  message: AmqpMessage;
  deliveryCount: number;
  state: MessageState;
  lockToken?: string;
  lockedUntil?: number;
  scheduledAt?: number;
  /** Set on dead-lettered copies. */
  deadLetterSource?: string;
}

/** A consumer the store pushes messages to (one per open receiving link). */
export interface Consumer {
  /** Called whenever messages may have become available. */
  wake(): void;
}

/** AMQP string-ish values (string, symbol, number, binary/uuid ids) as text. */
export function asText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Buffer.isBuffer(v)) return v.toString("hex");
  return JSON.stringify(v);
}

export class PeerError extends Error {
  constructor(readonly condition: string, description: string) {
    super(description);
    this.name = "PeerError";
  }
}

export const LOCK_LOST = "com.microsoft:message-lock-lost";

/** One queue, subscription or dead-letter queue: ordered messages, locks, consumers. */
export class MessageStore {
  private readonly available: StoredMessage[] = [];
  private readonly all = new Map<number, StoredMessage>();
  private readonly locks = new Map<string, { msg: StoredMessage; timer: NodeJS.Timeout }>();
  private readonly consumers = new Set<Consumer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rr = 0;

  constructor(
    readonly path: string,
    private readonly settings: EntitySettings,
    readonly deadLetter: MessageStore | undefined,
  ) {}

  get size(): number {
    return this.all.size;
  }

  addConsumer(c: Consumer): void {
    this.consumers.add(c);
  }
  removeConsumer(c: Consumer): void {
    this.consumers.delete(c);
  }

  enqueue(msg: StoredMessage): void {
    this.all.set(msg.sequenceNumber, msg);
    if (msg.state === "scheduled" && msg.scheduledAt !== undefined) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.all.get(msg.sequenceNumber) !== msg || msg.state !== "scheduled") return;
        msg.state = "active";
        this.makeAvailable(msg);
      }, Math.max(0, msg.scheduledAt - Date.now()));
      timer.unref();
      this.timers.add(timer);
      return;
    }
    this.makeAvailable(msg);
  }

  cancelScheduled(sequenceNumber: number): void {
    const msg = this.all.get(sequenceNumber);
    if (msg?.state === "scheduled") this.all.delete(sequenceNumber);
  }

  /** Takes the next available message: locked (peek-lock) or removed (receive-and-delete). */
  take(mode: "peekLock" | "receiveAndDelete"): StoredMessage | undefined {
    const msg = this.available.shift();
    if (!msg) return undefined;
    if (mode === "receiveAndDelete") {
      this.all.delete(msg.sequenceNumber);
      return msg;
    }
    msg.lockToken = randomUUID();
    this.lockFor(msg);
    return msg;
  }

  hasAvailable(): boolean {
    return this.available.length > 0;
  }

  complete(lockToken: string): void {
    const msg = this.release(lockToken);
    this.all.delete(msg.sequenceNumber);
  }

  /** Back to the store at its place in sequence order, one more delivery counted. */
  abandon(lockToken: string, annotations?: Record<string, unknown>): void {
    const msg = this.release(lockToken);
    if (annotations) msg.message.message_annotations = { ...msg.message.message_annotations, ...annotations };
    this.redeliver(msg);
  }

  defer(lockToken: string): void {
    const msg = this.release(lockToken);
    msg.state = "deferred";
  }

  deadLetterLocked(lockToken: string, reason?: string, description?: string, annotations?: Record<string, unknown>): void {
    const msg = this.release(lockToken);
    if (annotations) msg.message.message_annotations = { ...msg.message.message_annotations, ...annotations };
    this.moveToDeadLetter(msg, reason, description);
  }

  renewLock(lockToken: string): Date {
    const held = this.locks.get(lockToken);
    if (!held) throw this.lockLost(lockToken);
    clearTimeout(held.timer);
    this.locks.delete(lockToken);
    this.lockFor(held.msg);
    return new Date(held.msg.lockedUntil ?? Date.now());
  }

  isLocked(lockToken: string): boolean {
    return this.locks.has(lockToken);
  }

  /** Messages from a sequence number on, in order, whatever their state (not dead-lettered ones). */
  peek(fromSequenceNumber: number, count: number): StoredMessage[] {
    return [...this.all.values()]
      .filter((m) => m.sequenceNumber >= fromSequenceNumber)
      .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
      .slice(0, count);
  }

  close(): void {
    for (const { timer } of this.locks.values()) clearTimeout(timer);
    for (const timer of this.timers) clearTimeout(timer);
    this.locks.clear();
    this.timers.clear();
    this.deadLetter?.close();
  }

  private makeAvailable(msg: StoredMessage): void {
    // Keep sequence order: an abandoned message goes back before later ones, as in Service Bus.
    let i = this.available.length;
    while (i > 0 && (this.available[i - 1]?.sequenceNumber ?? 0) > msg.sequenceNumber) i--;
    this.available.splice(i, 0, msg);
    this.wakeConsumers();
  }

  private wakeConsumers(): void {
    // Round-robin start so competing consumers share the load.
    const list = [...this.consumers];
    if (list.length === 0) return;
    this.rr = (this.rr + 1) % list.length;
    for (let k = 0; k < list.length && this.available.length > 0; k++) list[(this.rr + k) % list.length]?.wake();
  }

  private lockFor(msg: StoredMessage): void {
    const token = msg.lockToken;
    if (!token) return;
    msg.lockedUntil = Date.now() + this.settings.lockDurationMs;
    const timer = setTimeout(() => {
      // Lock expired: the message is delivered again and the attempt counts.
      if (this.locks.get(token)?.msg !== msg) return;
      this.locks.delete(token);
      msg.lockToken = undefined;
      msg.lockedUntil = undefined;
      this.redeliver(msg);
    }, this.settings.lockDurationMs);
    timer.unref();
    this.locks.set(token, { msg, timer });
  }

  private release(lockToken: string): StoredMessage {
    const held = this.locks.get(lockToken);
    if (!held) throw this.lockLost(lockToken);
    clearTimeout(held.timer);
    this.locks.delete(lockToken);
    held.msg.lockToken = undefined;
    held.msg.lockedUntil = undefined;
    return held.msg;
  }

  private redeliver(msg: StoredMessage): void {
    msg.deliveryCount++;
    if (this.deadLetter && msg.deliveryCount >= this.settings.maxDeliveryCount) {
      this.moveToDeadLetter(msg, "MaxDeliveryCountExceeded", `Message could not be consumed after ${this.settings.maxDeliveryCount} delivery attempts.`);
      return;
    }
    this.makeAvailable(msg);
  }

  private moveToDeadLetter(msg: StoredMessage, reason?: string, description?: string): void {
    this.all.delete(msg.sequenceNumber);
    if (!this.deadLetter) return;
    const appProps: Record<string, unknown> = { ...(msg.message.application_properties ?? {}) };
    if (reason !== undefined) appProps["DeadLetterReason"] = reason;
    if (description !== undefined) appProps["DeadLetterErrorDescription"] = description;
    this.deadLetter.enqueue({
      ...msg,
      message: { ...msg.message, application_properties: appProps },
      state: "active",
      lockToken: undefined,
      lockedUntil: undefined,
      deadLetterSource: this.path,
    });
  }

  private lockLost(lockToken: string): PeerError {
    return new PeerError(
      LOCK_LOST,
      `The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue. Reference:${lockToken}, Entity:${this.path}`,
    );
  }
}

/** A queue or a topic: where senders send. Owns sequence numbers and duplicate detection. */
export class SendTarget {
  private nextSequenceNumber = 1;
  private readonly seenMessageIds = new Map<string, number>();
  /** A queue has one store; a topic one per subscription. */
  readonly subscriptions = new Map<string, MessageStore>();
  readonly queue: MessageStore | undefined;
  /** Someone opened a receiver on this queue (an auto-created one then stays a queue). */
  receivedFrom = false;

  constructor(
    readonly name: string,
    readonly kind: "queue" | "topic",
    private readonly settings: EntitySettings,
    /** Created on first use by the auto-create mode (and so may still turn into a topic). */
    readonly autoCreated = false,
  ) {
    this.queue = kind === "queue" ? newStore(name, settings) : undefined;
  }

  addSubscription(sub: string): MessageStore {
    const key = sub.toLowerCase();
    let store = this.subscriptions.get(key);
    if (!store) {
      store = newStore(`${this.name}/Subscriptions/${sub}`, this.settings);
      this.subscriptions.set(key, store);
    }
    return store;
  }

  /** Accepts one message; returns its sequence number, or undefined when dropped as a duplicate. */
  send(message: AmqpMessage, now = Date.now()): number | undefined {
    const id = asText(message.message_id);
    if (this.settings.duplicateDetectionWindowMs > 0 && id !== undefined) {
      this.forgetOldIds(now);
      if (this.seenMessageIds.has(id)) return undefined;
      this.seenMessageIds.set(id, now);
    }
    const sequenceNumber = this.nextSequenceNumber++;
    const scheduled = message.message_annotations?.["x-opt-scheduled-enqueue-time"];
    const scheduledAt = scheduled instanceof Date ? scheduled.getTime() : typeof scheduled === "number" ? scheduled : undefined;
    const stores = this.queue ? [this.queue] : [...this.subscriptions.values()];
    for (const store of stores) {
      store.enqueue({
        sequenceNumber,
        enqueuedAt: now,
        message: { ...message },
        deliveryCount: 0,
        state: scheduledAt !== undefined && scheduledAt > now ? "scheduled" : "active",
        ...(scheduledAt !== undefined && scheduledAt > now ? { scheduledAt } : {}),
      });
    }
    return sequenceNumber;
  }

  cancelScheduled(sequenceNumber: number): void {
    if (this.queue) this.queue.cancelScheduled(sequenceNumber);
    for (const s of this.subscriptions.values()) s.cancelScheduled(sequenceNumber);
  }

  close(): void {
    this.queue?.close();
    for (const s of this.subscriptions.values()) s.close();
  }

  private forgetOldIds(now: number): void {
    for (const [id, at] of this.seenMessageIds) {
      if (now - at < this.settings.duplicateDetectionWindowMs) break; // insertion order = time order
      this.seenMessageIds.delete(id);
    }
  }
}

function newStore(path: string, settings: EntitySettings): MessageStore {
  return new MessageStore(path, settings, new MessageStore(`${path}/$DeadLetterQueue`, settings, undefined));
}

/** What an AMQP address names. */
export type Address =
  | { kind: "cbs" }
  | { kind: "management"; entity: string }
  | { kind: "entity"; path: string; parts: string[] };

export function parseAddress(raw: string): Address {
  // The SDK sends entity paths; tolerate a full sb:// or amqps:// URL too.
  const path = raw.replace(/^[a-z]+:\/\/[^/]+\//i, "").replace(/^\/+|\/+$/g, "");
  if (path.toLowerCase() === "$cbs") return { kind: "cbs" };
  const parts = path.split("/");
  if (parts.length > 1 && parts[parts.length - 1]?.toLowerCase() === "$management") {
    return { kind: "management", entity: parts.slice(0, -1).join("/") };
  }
  return { kind: "entity", path, parts };
}

export interface NamespaceOptions {
  autoCreate: boolean;
  queues: string[];
  topics: Record<string, string[]>;
  settings: EntitySettings;
}

export class Namespace {
  private readonly targets = new Map<string, SendTarget>();

  constructor(private readonly opts: NamespaceOptions) {
    for (const q of opts.queues) this.targets.set(q.toLowerCase(), new SendTarget(q, "queue", opts.settings));
    for (const [t, subs] of Object.entries(opts.topics)) {
      const topic = new SendTarget(t, "topic", opts.settings);
      for (const s of subs) topic.addSubscription(s);
      this.targets.set(t.toLowerCase(), topic);
    }
  }

  /** The queue or topic a sender's target address names. */
  sendTarget(path: string): SendTarget {
    const parts = path.split("/");
    if (parts.length !== 1 || !parts[0]) {
      throw new PeerError("amqp:not-allowed", `Cannot send to '${path}': send to a queue or a topic.`);
    }
    return this.target(parts[0], "queue");
  }

  /** The store a receiver's source address names: a queue, a subscription, or a dead-letter queue. */
  receiveSource(path: string): MessageStore {
    const parts = path.split("/");
    const dlq = parts[parts.length - 1]?.toLowerCase() === "$deadletterqueue";
    const base = dlq ? parts.slice(0, -1) : parts;
    let store: MessageStore | undefined;
    if (base.length === 1 && base[0]) {
      const t = this.target(base[0], "queue");
      if (!t.queue) throw new PeerError("amqp:not-allowed", `Cannot receive from topic '${t.name}': receive from one of its subscriptions.`);
      t.receivedFrom = true;
      store = t.queue;
    } else if (base.length === 3 && base[0] && base[1]?.toLowerCase() === "subscriptions" && base[2]) {
      store = this.subscription(base[0], base[2]);
    }
    if (!store) throw notFound(path);
    return dlq ? (store.deadLetter ?? store) : store;
  }

  close(): void {
    for (const t of this.targets.values()) t.close();
  }

  private target(name: string, createAs: "queue" | "topic"): SendTarget {
    const key = name.toLowerCase();
    let t = this.targets.get(key);
    if (!t) {
      if (!this.opts.autoCreate) throw notFound(name);
      t = new SendTarget(name, createAs, this.opts.settings, true);
      this.targets.set(key, t);
    }
    return t;
  }

  private subscription(topicName: string, sub: string): MessageStore {
    const key = topicName.toLowerCase();
    let t = this.targets.get(key);
    if (t?.kind === "queue" && t.autoCreated && !t.receivedFrom) {
      // A name first seen from a sender was created as a queue; opening a subscription on it
      // shows it was meant as a topic. What it held is dropped, as a topic without subscriptions
      // drops what it is sent.
      t.close();
      t = undefined;
      this.targets.delete(key);
    }
    t ??= this.target(topicName, "topic");
    if (t.kind !== "topic") throw notFound(`${topicName}/Subscriptions/${sub}`);
    const existing = t.subscriptions.get(sub.toLowerCase());
    if (existing) return existing;
    if (!this.opts.autoCreate) throw notFound(`${topicName}/Subscriptions/${sub}`);
    return t.addSubscription(sub);
  }

  /** Management requests name an entity path; find its store (receivers) or target (senders). */
  managementEntity(path: string): { store?: MessageStore; target?: SendTarget } {
    const parts = path.split("/");
    if (parts.length === 1 && parts[0]) {
      const t = this.target(parts[0], "queue");
      return { target: t, ...(t.queue ? { store: t.queue } : {}) };
    }
    return { store: this.receiveSource(path) };
  }
}

function notFound(path: string): PeerError {
  return new PeerError(
    "amqp:not-found",
    `The messaging entity 'sb://127.0.0.1/${path}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
  );
}
