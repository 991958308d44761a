// The EventPublisher contract against the memory publisher and the Service Bus publisher (real
// ServiceBusSender/Receiver against the Service Bus peer).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import { MemoryEventPublisher, ServiceBusEventPublisher, type EventMessage } from "../../../lib/events";
import { memoryLedger } from "../../../lib/ledger";
import { serviceBusClient, startTestServiceBus, type ServiceBusPeer } from "../../support/servicebus";
import { describePublisherContract, rotationEvent } from "./publisherContract";

const fastRetry = { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 }, log: () => {} };

describePublisherContract("memory", {
  async working(ledger) {
    const publisher = new MemoryEventPublisher(ledger, fastRetry);
    let read = 0;
    return {
      publisher,
      receive: async (n) => {
        const out = publisher.messages.slice(read, read + n);
        read += out.length;
        return out;
      },
      close: async () => {},
    };
  },
  async broken(ledger) {
    const publisher = new MemoryEventPublisher(ledger, { ...fastRetry, fault: () => Object.assign(new Error("bus unreachable"), { code: "ServiceCommunicationProblem" }) });
    return { publisher, close: async () => {} };
  },
});

let autoPeer: ServiceBusPeer;
let strictPeer: ServiceBusPeer;
let autoClient: ServiceBusClient;
let strictClient: ServiceBusClient;
beforeAll(async () => {
  autoPeer = await startTestServiceBus({ autoCreate: true });
  strictPeer = await startTestServiceBus({ topics: { "key-rotation-events": ["contract"] } });
  autoClient = serviceBusClient(autoPeer);
  strictClient = serviceBusClient(strictPeer);
});
afterAll(async () => {
  await autoClient?.close();
  await strictClient?.close();
  await autoPeer?.stop();
  await strictPeer?.stop();
});

function asEventMessage(m: ServiceBusReceivedMessage): EventMessage {
  return { messageId: m.messageId, subject: m.subject, contentType: m.contentType, applicationProperties: m.applicationProperties, body: m.body } as EventMessage;
}

describePublisherContract("Service Bus", {
  async working(ledger) {
    // A fresh topic per harness (auto-created with duplicate detection): tests never see each other's events.
    const topic = `events-${randomUUID().slice(0, 8)}`;
    const receiver = autoClient.createReceiver(topic, "consumer", { receiveMode: "receiveAndDelete" });
    await receiver.peekMessages(1); // opens the subscription before anything is published
    const sender = autoClient.createSender(topic);
    const publisher = new ServiceBusEventPublisher(sender, ledger, fastRetry);
    return {
      publisher,
      receive: async (n) => {
        const out: EventMessage[] = [];
        while (out.length < n) {
          const batch = await receiver.receiveMessages(n - out.length, { maxWaitTimeInMs: 1_000 });
          if (batch.length === 0) break;
          out.push(...batch.map(asEventMessage));
        }
        return out;
      },
      close: async () => {
        await publisher.close();
        await receiver.close();
      },
    };
  },
  async broken(ledger) {
    // The strict peer has no such topic: the SDK's MessagingEntityNotFound is not retryable.
    const publisher = new ServiceBusEventPublisher(strictClient.createSender("no-such-topic"), ledger, fastRetry);
    return { publisher, close: () => publisher.close() };
  },
});

describe("ReliableEventPublisher retries", () => {
  it("retries a transient failure with exponential backoff and delivers once", async () => {
    const ledger = memoryLedger();
    const delays: number[] = [];
    let failuresLeft = 2;
    const publisher = new MemoryEventPublisher(ledger, {
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
      sleep: async (ms) => {
        delays.push(ms);
      },
      fault: () => (failuresLeft-- > 0 ? new Error("blip") : undefined),
    });
    const event = rotationEvent("Promoted", 1);
    await publisher.publish(event);
    expect(delays).toEqual([100, 200]);
    expect(publisher.messages.map((m) => m.messageId)).toEqual([event.messageId]);
    expect(publisher.notificationHealth()).toMatchObject({ ok: true, failures: 0 });
    const entries = [];
    for await (const e of ledger.entries(event.keyId)) entries.push(e);
    expect(entries).toEqual([]);
  });

  it("gives up after the bounded number of attempts, then recovers its health on the next delivery", async () => {
    const ledger = memoryLedger();
    let attempts = 0;
    let down = true;
    const publisher = new MemoryEventPublisher(ledger, {
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      log: () => {},
      fault: () => {
        attempts++;
        return down ? new Error("down") : undefined;
      },
    });
    await publisher.publish(rotationEvent("RewrapProgress", 1));
    expect(attempts).toBe(3);
    expect(publisher.notificationHealth()).toMatchObject({ ok: false, failures: 1 });
    down = false;
    await publisher.publish(rotationEvent("RewrapProgress", 2));
    expect(publisher.notificationHealth()).toMatchObject({ ok: true, failures: 1 });
  });

  it("does not retry what retrying cannot fix", async () => {
    const ledger = memoryLedger();
    let attempts = 0;
    const publisher = new MemoryEventPublisher(ledger, {
      retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 1 },
      log: () => {},
      isRetryable: () => false,
      fault: () => {
        attempts++;
        return new Error("entity not found");
      },
    });
    await publisher.publish(rotationEvent("Retired", 1));
    expect(attempts).toBe(1);
  });
});
