// The in-memory EventPublisher: what a consumer would receive, kept in a list, with Service Bus's
// duplicate detection (one copy per messageId). Same retry/record/health behaviour as the real one.
import type { Ledger } from "../ports";
import type { EventMessage } from "./message";
import { ReliableEventPublisher, type ReliablePublisherOptions } from "./reliable";

export interface MemoryPublisherOptions extends ReliablePublisherOptions {
  /** Test hook: called before each delivery attempt; an Error it returns fails that attempt. */
  fault?: (message: EventMessage) => Error | undefined;
}

export class MemoryEventPublisher extends ReliableEventPublisher {
  /** Delivered messages in order, duplicates dropped. */
  readonly messages: EventMessage[];

  constructor(ledger: Ledger, opts: MemoryPublisherOptions = {}) {
    const messages: EventMessage[] = [];
    const seen = new Set<string>();
    super(
      async (message) => {
        const fault = opts.fault?.(message);
        if (fault) throw fault;
        if (seen.has(message.messageId)) return;
        seen.add(message.messageId);
        messages.push(structuredClone(message));
      },
      ledger,
      opts,
    );
    this.messages = messages;
  }
}
