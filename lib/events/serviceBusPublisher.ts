// The Service Bus EventPublisher: one ServiceBusSender on the events topic (KEYROTOR_EVENTS_TOPIC).
// In Azure the client authenticates with DefaultAzureCredential against the namespace; locally a
// connection string (the peer's) is used.
import { DefaultAzureCredential } from "@azure/identity";
import type { TokenCredential } from "@azure/core-auth";
import { ServiceBusClient, isServiceBusError, type ServiceBusMessage, type ServiceBusSender } from "@azure/service-bus";
import type { Config } from "../config";
import type { Ledger } from "../ports";
import type { EventMessage } from "./message";
import { ReliableEventPublisher, type ReliablePublisherOptions } from "./reliable";

type ServiceBusSettings = Pick<Config, "KEYROTOR_SERVICEBUS_CONNECTION" | "KEYROTOR_SERVICEBUS_NAMESPACE">;

export function serviceBusClientFor(cfg: ServiceBusSettings, credential?: TokenCredential): ServiceBusClient {
  if (cfg.KEYROTOR_SERVICEBUS_CONNECTION) return new ServiceBusClient(cfg.KEYROTOR_SERVICEBUS_CONNECTION);
  if (cfg.KEYROTOR_SERVICEBUS_NAMESPACE) return new ServiceBusClient(cfg.KEYROTOR_SERVICEBUS_NAMESPACE, credential ?? new DefaultAzureCredential());
  throw new Error("[keyrotor] [events] set KEYROTOR_SERVICEBUS_NAMESPACE (identity) or KEYROTOR_SERVICEBUS_CONNECTION (connection string)");
}

export function toServiceBusMessage(m: EventMessage): ServiceBusMessage {
  return { messageId: m.messageId, subject: m.subject, contentType: m.contentType, applicationProperties: { ...m.applicationProperties }, body: m.body };
}

/** Whether retrying can help: the SDK marks e.g. MessagingEntityNotFound and MessageSizeExceeded
 * as not retryable (it has already retried the transient ones itself). */
export function isRetryableServiceBusError(err: unknown): boolean {
  return isServiceBusError(err) ? err.retryable : true;
}

export class ServiceBusEventPublisher extends ReliableEventPublisher {
  constructor(
    private readonly sender: ServiceBusSender,
    ledger: Ledger,
    opts: ReliablePublisherOptions = {},
  ) {
    super((message) => sender.sendMessages(toServiceBusMessage(message)), ledger, { isRetryable: isRetryableServiceBusError, ...opts });
  }

  close(): Promise<void> {
    return this.sender.close();
  }
}

/** The app's publisher from configuration; close() releases the sender and the client. */
export function createServiceBusEventPublisher(
  cfg: ServiceBusSettings & Pick<Config, "KEYROTOR_EVENTS_TOPIC">,
  ledger: Ledger,
  opts: ReliablePublisherOptions & { credential?: TokenCredential } = {},
): { publisher: ServiceBusEventPublisher; close(): Promise<void> } {
  const client = serviceBusClientFor(cfg, opts.credential);
  const publisher = new ServiceBusEventPublisher(client.createSender(cfg.KEYROTOR_EVENTS_TOPIC), ledger, opts);
  return {
    publisher,
    close: async () => {
      await publisher.close();
      await client.close();
    },
  };
}
