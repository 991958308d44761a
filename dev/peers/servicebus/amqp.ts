// The AMQP 1.0 side of the Service Bus peer (rhea): what @azure/service-bus 7.9 does on the wire —
// SASL ANONYMOUS, $cbs put-token, entity links with echoed termini and settle modes, batch
// transfers (message format 0x80013700), lock tokens as delivery tags, dispositions, drain, and the
// $management operations the SDK uses. Entity semantics live in namespace.ts.
import { randomUUID } from "node:crypto";
import type { Server } from "node:net";
import {
  create_container,
  message as rheaMessage,
  string_to_uuid,
  types,
  uuid_to_string,
  type Connection,
  type Delivery,
  type EventContext,
  type Receiver,
  type Sender,
} from "rhea";
import { LOCK_LOST, PeerError, asText, parseAddress, type AmqpMessage, type Consumer, type MessageStore, type Namespace, type StoredMessage } from "./namespace";

/** Service Bus's batch message format: the body's data sections are each an encoded message. */
const BATCH_FORMAT = 0x80013700;
const SND_SETTLED = 1;

type Inbound = { kind: "cbs" } | { kind: "management"; entity: string } | { kind: "entity"; path: string };

interface Lock {
  store: MessageStore;
  lockToken: string;
}

// Internals of rhea this layer reads (stable across rhea 3.x; typed here rather than cast ad hoc).
interface RheaMessageCodec {
  encode(msg: unknown): Buffer;
  decode(buf: Buffer): AmqpMessage;
  accepted(): { described(): unknown };
  released(): { described(): unknown };
  modified(fields: Record<string, unknown>): { described(): unknown };
  rejected(fields: { error?: { condition: string; description: string } }): { described(): unknown };
}
const codec = rheaMessage as unknown as RheaMessageCodec;
interface LinkInternals {
  local: { attach: Record<string, unknown> };
  remote: { attach?: { source?: { address?: string } | null; target?: { address?: string } | null; snd_settle_mode?: number; rcv_settle_mode?: number } };
  session: { outgoing: { next_pending_delivery: number; available(): number } };
  credit: number;
  set_drained(drained: boolean): void;
}
const internals = (link: Sender | Receiver): LinkInternals => link as unknown as LinkInternals;

function finalSettle(delivery: Delivery): void {
  const state = delivery.remote_state;
  const described = !state
    ? undefined
    : rheaMessage.is_accepted(state)
      ? codec.accepted().described()
      : rheaMessage.is_rejected(state)
        ? codec.rejected({}).described()
        : rheaMessage.is_modified(state)
          ? codec.modified({ delivery_failed: state["delivery_failed"], undeliverable_here: state["undeliverable_here"] }).described()
          : codec.released().described();
  delivery.update(true, described);
  markSettledByClient(delivery);
}

/** rhea clients in rcv-settle-mode second never send the final settled disposition; without this
 * the delivery would occupy the session's fixed-size buffer forever. */
function markSettledByClient(delivery: Delivery): void {
  (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
}

export interface AmqpServerOptions {
  port: number;
  maxMessageSizeBytes: number;
}

export interface AmqpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Pushes a store's messages to one receiving link, within the credit the client granted. */
class Outlet implements Consumer {
  /** Delivery ids handed to rhea but not yet transferred (they still hold credit). */
  private readonly unsentIds: number[] = [];

  constructor(
    private readonly sender: Sender,
    readonly store: MessageStore,
    private readonly mode: "peekLock" | "receiveAndDelete",
    private readonly locks: WeakMap<Delivery, Lock>,
  ) {}

  wake(): void {
    this.pump();
  }

  pump(): void {
    if (!this.sender.is_open()) return;
    while (this.budget() > 0 && this.store.hasAvailable()) {
      const msg = this.store.take(this.mode);
      if (!msg) break;
      const tag = msg.lockToken ? lockTokenTag(msg.lockToken) : Buffer.from(randomUUID().replace(/-/g, ""), "hex");
      const delivery = this.sender.send(deliveredForm(msg) as never, tag);
      this.unsentIds.push(delivery.id);
      if (msg.lockToken) this.locks.set(delivery, { store: this.store, lockToken: msg.lockToken });
    }
  }

  drain(): void {
    this.pump();
    // Nothing more to give: hand back the remaining credit so the client's drain completes.
    internals(this.sender).set_drained(true);
  }

  private budget(): number {
    const nextPending = internals(this.sender).session.outgoing.next_pending_delivery;
    while (this.unsentIds.length > 0 && (this.unsentIds[0] ?? 0) < nextPending) this.unsentIds.shift();
    // rhea keeps unsettled deliveries in a fixed-size session buffer: never overfill it.
    return Math.min(internals(this.sender).credit - this.unsentIds.length, internals(this.sender).session.outgoing.available());
  }
}

/** The lock token the SDK shows is the delivery tag read as a .NET-ordered GUID. */
function lockTokenTag(lockToken: string): Buffer {
  return dotNetByteOrder(string_to_uuid(lockToken));
}
function dotNetByteOrder(b: Buffer): Buffer {
  return Buffer.from([b[3] ?? 0, b[2] ?? 0, b[1] ?? 0, b[0] ?? 0, b[5] ?? 0, b[4] ?? 0, b[7] ?? 0, b[6] ?? 0, ...b.subarray(8)]);
}

/** The message as a receiver sees it: the broker's annotations and the delivery count added. */
function deliveredForm(m: StoredMessage): AmqpMessage {
  const annotations: Record<string, unknown> = {
    ...(m.message.message_annotations ?? {}),
    "x-opt-sequence-number": types.wrap_long(m.sequenceNumber),
    "x-opt-enqueued-time": new Date(m.enqueuedAt),
  };
  if (m.lockedUntil !== undefined) annotations["x-opt-locked-until"] = new Date(m.lockedUntil);
  if (m.state === "deferred") annotations["x-opt-message-state"] = 1;
  if (m.state === "scheduled") annotations["x-opt-message-state"] = 2;
  if (m.deadLetterSource !== undefined) annotations["x-opt-deadletter-source"] = m.deadLetterSource;
  return { ...m.message, message_annotations: annotations, delivery_count: m.deliveryCount };
}

function toNumber(v: unknown): number {
  if (Buffer.isBuffer(v)) return Number(v.readBigInt64BE(0));
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return Number(v ?? 0);
}

function lockTokenOf(v: unknown): string {
  return Buffer.isBuffer(v) ? uuid_to_string(v) : (asText(v) ?? "");
}

export async function startAmqpServer(ns: Namespace, opts: AmqpServerOptions): Promise<AmqpServer> {
  const container = create_container({ id: `servicebus-peer-${randomUUID()}`, autoaccept: false, treat_modified_as_released: false });
  const inbound = new WeakMap<Receiver, Inbound>();
  const outlets = new WeakMap<Sender, Outlet>();
  const locks = new WeakMap<Delivery, Lock>();
  const replyLinks = new WeakMap<Connection, Map<string, Sender>>();

  const refuse = (link: Sender | Receiver, err: unknown): void => {
    const e = err instanceof PeerError ? err : new PeerError("amqp:internal-error", String(err));
    link.close({ condition: e.condition, description: e.message });
  };

  container.on("receiver_open", (ctx: EventContext) => {
    const receiver = ctx.receiver!;
    const l = internals(receiver);
    const target = l.remote.attach?.target?.address ?? "";
    l.local.attach["snd_settle_mode"] = l.remote.attach?.snd_settle_mode;
    l.local.attach["rcv_settle_mode"] = l.remote.attach?.rcv_settle_mode;
    l.local.attach["max_message_size"] = opts.maxMessageSizeBytes;
    const addr = parseAddress(target);
    try {
      if (addr.kind === "entity") ns.sendTarget(addr.path);
      inbound.set(receiver, addr.kind === "entity" ? { kind: "entity", path: addr.path } : addr);
      receiver.set_target({ address: target });
    } catch (err) {
      refuse(receiver, err);
    }
  });

  container.on("sender_open", (ctx: EventContext) => {
    const sender = ctx.sender!;
    const l = internals(sender);
    const source = l.remote.attach?.source?.address ?? "";
    const replyTo = l.remote.attach?.target?.address;
    l.local.attach["snd_settle_mode"] = l.remote.attach?.snd_settle_mode;
    l.local.attach["rcv_settle_mode"] = l.remote.attach?.rcv_settle_mode;
    l.local.attach["max_message_size"] = opts.maxMessageSizeBytes;
    const addr = parseAddress(source);
    try {
      if (addr.kind === "entity") {
        const store = ns.receiveSource(addr.path);
        const mode = l.remote.attach?.snd_settle_mode === SND_SETTLED ? "receiveAndDelete" : "peekLock";
        const outlet = new Outlet(sender, store, mode, locks);
        outlets.set(sender, outlet);
        store.addConsumer(outlet);
      } else {
        let links = replyLinks.get(ctx.connection);
        if (!links) replyLinks.set(ctx.connection, (links = new Map<string, Sender>()));
        links.set(sender.name, sender);
        if (replyTo) links.set(replyTo, sender);
      }
      sender.set_source({ address: source });
      if (replyTo !== undefined) sender.set_target({ address: replyTo });
    } catch (err) {
      refuse(sender, err);
    }
  });

  const dropOutlet = (ctx: EventContext): void => {
    const outlet = ctx.sender ? outlets.get(ctx.sender) : undefined;
    if (outlet && ctx.sender) {
      outlet.store.removeConsumer(outlet);
      outlets.delete(ctx.sender);
    }
  };
  container.on("sender_close", dropOutlet);
  container.on("sender_error", dropOutlet);
  container.on("disconnected", (ctx: EventContext) => {
    // A dropped connection takes its links along; locks stay until they expire, as in Service Bus.
    for (const session of Object.values((ctx.connection as unknown as { local_channel_map: Record<string, { links: Record<string, Sender | Receiver> }> }).local_channel_map ?? {})) {
      for (const link of Object.values(session.links ?? {})) {
        const outlet = link.is_sender() ? outlets.get(link as Sender) : undefined;
        if (outlet) outlet.store.removeConsumer(outlet);
      }
    }
  });
  container.on("error", (e: unknown) => { if (process.env["SB_PEER_DEBUG"]) console.error("[servicebus-peer]", e);
    // Client-side protocol errors end that connection only; the peer keeps serving others.
  });

  container.on("sendable", (ctx: EventContext) => outlets.get(ctx.sender!)?.pump());
  container.on("sender_draining", (ctx: EventContext) => outlets.get(ctx.sender!)?.drain());

  // ---- dispositions from peek-lock receivers --------------------------------------------------
  const settle = (ctx: EventContext, act: (lock: Lock) => void): void => {
    const delivery = ctx.delivery!;
    const outcome = locks.get(delivery);
    if (!outcome) return;
    locks.delete(delivery);
    try {
      act(outcome);
      // Settle with the client's outcome, minus a dead-letter's error (the SDK would read it as a
      // failed settlement).
      finalSettle(delivery);
    } catch (err) {
      const e = err instanceof PeerError ? err : new PeerError("amqp:internal-error", String(err));
      delivery.update(true, codec.rejected({ error: { condition: e.condition, description: e.message } }).described());
      markSettledByClient(delivery);
    }
  };
  container.on("accepted", (ctx: EventContext) => settle(ctx, ({ store, lockToken }) => store.complete(lockToken)));
  container.on("released", (ctx: EventContext) => settle(ctx, ({ store, lockToken }) => store.abandon(lockToken)));
  container.on("modified", (ctx: EventContext) =>
    settle(ctx, ({ store, lockToken }) => {
      const state = ctx.delivery!.remote_state as { undeliverable_here?: boolean; message_annotations?: Record<string, unknown> } | undefined;
      if (state?.undeliverable_here) store.defer(lockToken);
      else store.abandon(lockToken, state?.message_annotations);
    }),
  );
  container.on("rejected", (ctx: EventContext) =>
    settle(ctx, ({ store, lockToken }) => {
      const error = (ctx.delivery!.remote_state as { error?: { condition?: string; info?: Record<string, unknown> } } | undefined)?.error;
      const info = error?.info ?? {};
      store.deadLetterLocked(lockToken, asText(info["DeadLetterReason"]), asText(info["DeadLetterErrorDescription"]));
    }),
  );

  // ---- incoming transfers: sends, $cbs and $management requests --------------------------------
  container.on("message", (ctx: EventContext) => {
    const receiver = ctx.receiver!;
    const delivery = ctx.delivery!;
    const role = inbound.get(receiver);
    if (!role) return;
    try {
      if (role.kind === "entity") {
        acceptSend(role.path, ctx.message, delivery.format);
        delivery.accept();
        return;
      }
      const request = ctx.message as unknown as AmqpMessage;
      const response = role.kind === "cbs" ? cbsResponse() : managementResponse(role.entity, request);
      reply(ctx.connection, request, response);
      delivery.accept();
    } catch (err) {
      const e = err instanceof PeerError ? err : new PeerError("amqp:internal-error", String(err));
      delivery.reject({ condition: e.condition, description: e.message });
    }
  });

  const acceptSend = (path: string, payload: unknown, format: number): void => {
    const target = ns.sendTarget(path);
    const messages: AmqpMessage[] = [];
    let size: number;
    if (format === BATCH_FORMAT && Buffer.isBuffer(payload)) {
      size = payload.length;
      const outer = codec.decode(payload);
      const body = outer["body"] as { content?: unknown; multiple?: boolean } | undefined;
      const sections = body?.multiple ? (body.content as Buffer[]) : body?.content ? [body.content as Buffer] : [];
      for (const s of sections) messages.push(codec.decode(s));
    } else {
      const msg = payload as AmqpMessage;
      size = codec.encode(msg).length;
      messages.push(msg);
    }
    if (size > opts.maxMessageSizeBytes) {
      throw new PeerError("amqp:link:message-size-exceeded", `The received message (size ${size} bytes) exceeds the limit (${opts.maxMessageSizeBytes} bytes) currently allowed on the link.`);
    }
    for (const m of messages) {
      // Service Bus assigns a message id when the sender gave none.
      if (m.message_id === undefined || m.message_id === null) m.message_id = randomUUID().replace(/-/g, "");
      target.send(m);
    }
  };

  interface Response {
    status: number;
    description: string;
    condition?: string;
    body?: unknown;
    cbs?: boolean;
  }

  const cbsResponse = (): Response => ({ status: 200, description: "OK", cbs: true });

  const managementResponse = (entity: string, request: AmqpMessage): Response => {
    const operation = asText(request.application_properties?.["operation"]) ?? "";
    const body = (request["body"] ?? {}) as Record<string, unknown>;
    try {
      const { store, target } = ns.managementEntity(entity);
      switch (operation) {
        case "com.microsoft:peek-message": {
          if (!store) throw new PeerError("amqp:not-allowed", `Cannot peek topic '${entity}'.`);
          const found = store.peek(toNumber(body["from-sequence-number"]), toNumber(body["message-count"]) || 1);
          if (found.length === 0) return { status: 204, description: "No Content" };
          return { status: 200, description: "OK", body: { messages: found.map((m) => ({ message: codec.encode(deliveredForm(m)) })) } };
        }
        case "com.microsoft:renew-lock": {
          if (!store) throw new PeerError("amqp:not-allowed", `No locks on topic '${entity}'.`);
          const tokens = (body["lock-tokens"] ?? []) as unknown[];
          return { status: 200, description: "OK", body: { expirations: tokens.map((t) => store.renewLock(lockTokenOf(t))) } };
        }
        case "com.microsoft:update-disposition": {
          if (!store) throw new PeerError("amqp:not-allowed", `No locks on topic '${entity}'.`);
          const status = asText(body["disposition-status"]) ?? "";
          for (const t of (body["lock-tokens"] ?? []) as unknown[]) {
            const token = lockTokenOf(t);
            if (status === "completed") store.complete(token);
            else if (status === "abandoned") store.abandon(token);
            else if (status === "defered") store.defer(token);
            else if (status === "suspended") {
              store.deadLetterLocked(token, asText(body["deadletter-reason"]), asText(body["deadletter-description"]));
            } else throw new PeerError("amqp:invalid-field", `Unknown disposition status '${status}'.`);
          }
          return { status: 200, description: "OK", body: {} };
        }
        case "com.microsoft:schedule-message": {
          if (!target) throw new PeerError("amqp:not-allowed", `Cannot schedule on '${entity}': schedule on a queue or a topic.`);
          const entries = (body["messages"] ?? []) as { message: Buffer }[];
          const seqs = entries.map((e) => target.send(codec.decode(e.message)) ?? 0);
          return { status: 200, description: "OK", body: { "sequence-numbers": seqs.map((n) => types.wrap_long(n)) } };
        }
        case "com.microsoft:cancel-scheduled-message": {
          if (!target) throw new PeerError("amqp:not-allowed", `Cannot cancel on '${entity}'.`);
          for (const s of (body["sequence-numbers"] ?? []) as unknown[]) target.cancelScheduled(toNumber(s));
          return { status: 200, description: "OK", body: {} };
        }
        default:
          return { status: 501, description: `Operation '${operation}' is not implemented by the peer.`, condition: "amqp:not-implemented" };
      }
    } catch (err) {
      if (!(err instanceof PeerError)) throw err;
      const status = err.condition === "amqp:not-found" ? 404 : err.condition === LOCK_LOST ? 410 : 400;
      return { status, description: err.message, condition: err.condition };
    }
  };

  const reply = (connection: Connection, request: AmqpMessage, res: Response): void => {
    const replyTo = asText(request["reply_to"]) ?? "";
    const link = replyLinks.get(connection)?.get(replyTo);
    if (!link) throw new PeerError("amqp:precondition-failed", `No reply link '${replyTo}' is attached.`);
    const props: Record<string, unknown> = res.cbs
      ? { "status-code": res.status, "status-description": res.description }
      : { statusCode: res.status, statusDescription: res.description, ...(res.condition ? { errorCondition: res.condition } : {}) };
    link.send({ to: replyTo, correlation_id: request.message_id as string, application_properties: props, body: res.body ?? null });
  };

  const server = container.listen({ port: opts.port, host: "127.0.0.1" } as never) as Server;
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
