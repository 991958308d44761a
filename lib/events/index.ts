// Service Bus events: lifecycle events, alerts and expiry warnings that tell responders what to do.
export { eventMessageId, toEventMessage, type EventBody, type EventMessage, type EventProperties } from "./message";
export { DEFAULT_PROGRESS_LIMIT, shouldPublishProgress, type ProgressLimit, type ProgressPoint } from "./progress";
export {
  DEFAULT_DELIVERY_RETRY, ReliableEventPublisher, type EventTransport, type NotificationHealth, type NotificationHealthSource,
  type ReliablePublisherOptions, type DeliveryRetry,
} from "./reliable";
export { MemoryEventPublisher, type MemoryPublisherOptions } from "./memoryPublisher";
export {
  ServiceBusEventPublisher, createServiceBusEventPublisher, isRetryableServiceBusError, serviceBusClientFor, toServiceBusMessage,
} from "./serviceBusPublisher";
