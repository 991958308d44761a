// A local Service Bus peer: AMQP 1.0 on loopback, reached by the real ServiceBusClient through a
// connection string with UseDevelopmentEmulator=true (plain TCP). Test and development
// infrastructure only; it stands for Azure and imports nothing of keyrotor.
//
// Not implemented (keyrotor does not use them): sessions, transactions, rules and filters (every
// subscription receives every message), receive of deferred messages by sequence number, TTL expiry,
// authorization (any $cbs token is accepted).
import { startAmqpServer } from "./amqp";
import { Namespace } from "./namespace";

export interface ServiceBusPeerOptions {
  /** 0 (default) picks a free loopback port. */
  port?: number;
  /** Create queues, topics and subscriptions on first use (duplicate detection on). */
  autoCreate?: boolean;
  queues?: string[];
  /** Topic name → its subscriptions. */
  topics?: Record<string, string[]>;
  /** Duplicate detection window for every entity; 0 = off. Default: off, or 10 minutes with autoCreate. */
  duplicateDetectionWindowMs?: number;
  /** Peek-lock duration (Service Bus default: 60 s). */
  lockDurationMs?: number;
  /** Deliveries before a message is dead-lettered with MaxDeliveryCountExceeded (default 10). */
  maxDeliveryCount?: number;
  /** Advertised on every link (Standard tier: 256 KB). */
  maxMessageSizeBytes?: number;
}

export interface ServiceBusPeer {
  readonly port: number;
  readonly connectionString: string;
  stop(): Promise<void>;
}

const TEN_MINUTES_MS = 10 * 60_000;

export function serviceBusConnectionString(port: number): string {
  return `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`;
}

export async function startServiceBusPeer(opts: ServiceBusPeerOptions = {}): Promise<ServiceBusPeer> {
  const autoCreate = opts.autoCreate ?? false;
  const ns = new Namespace({
    autoCreate,
    queues: opts.queues ?? [],
    topics: opts.topics ?? {},
    settings: {
      lockDurationMs: opts.lockDurationMs ?? 60_000,
      maxDeliveryCount: opts.maxDeliveryCount ?? 10,
      duplicateDetectionWindowMs: opts.duplicateDetectionWindowMs ?? (autoCreate ? TEN_MINUTES_MS : 0),
    },
  });
  const server = await startAmqpServer(ns, { port: opts.port ?? 0, maxMessageSizeBytes: opts.maxMessageSizeBytes ?? 256 * 1024 });
  let stopped: Promise<void> | undefined;
  return {
    port: server.port,
    connectionString: serviceBusConnectionString(server.port),
    stop: () => {
      stopped ??= server.close().finally(() => ns.close());
      return stopped;
    },
  };
}
