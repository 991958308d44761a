// Contract tests of the Service Bus peer: the real @azure/service-bus ServiceBusClient through every
// operation keyrotor relies on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isServiceBusError, type ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { serviceBusClient, startTestServiceBus, type ServiceBusPeer } from "../../support/servicebus";

let peer: ServiceBusPeer;
let client: ServiceBusClient;

beforeAll(async () => {
  peer = await startTestServiceBus({
    queues: ["orders", "many", "batches", "locks", "dlq-demo", "rad", "peeks", "dups", "sched"],
    topics: { events: ["audit", "ops"] },
    duplicateDetectionWindowMs: 60_000,
  });
  client = serviceBusClient(peer);
});

afterAll(async () => {
  await client?.close();
  await peer?.stop();
});

async function receiveAll(queue: string, count: number, mode: "peekLock" | "receiveAndDelete" = "peekLock"): Promise<ServiceBusReceivedMessage[]> {
  const receiver = client.createReceiver(queue, { receiveMode: mode });
  try {
    const got: ServiceBusReceivedMessage[] = [];
    while (got.length < count) {
      const batch = await receiver.receiveMessages(count - got.length, { maxWaitTimeInMs: 2_000 });
      if (batch.length === 0) break;
      for (const m of batch) {
        got.push(m);
        if (mode === "peekLock") await receiver.completeMessage(m);
      }
    }
    return got;
  } finally {
    await receiver.close();
  }
}

describe("Service Bus peer with the real ServiceBusClient", () => {
  it("prints a development-emulator connection string for its port", () => {
    expect(peer.connectionString).toBe(
      `Endpoint=sb://127.0.0.1:${peer.port};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`,
    );
  });

  it("delivers sent messages to a peek-lock receiver in order with body, properties and broker annotations", async () => {
    const sender = client.createSender("orders");
    await sender.sendMessages([
      { body: { n: 1 }, messageId: "m1", subject: "First", contentType: "application/json", applicationProperties: { keyId: "kek:v/k", attempt: 2 } },
      { body: { n: 2 }, messageId: "m2" },
    ]);
    await sender.close();
    const receiver = client.createReceiver("orders");
    const got = await receiver.receiveMessages(2, { maxWaitTimeInMs: 3_000 });
    expect(got.map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }]);
    const [first] = got;
    expect(first?.messageId).toBe("m1");
    expect(first?.subject).toBe("First");
    expect(first?.contentType).toBe("application/json");
    expect(first?.applicationProperties).toEqual({ keyId: "kek:v/k", attempt: 2 });
    expect(first?.deliveryCount).toBe(0);
    expect(Number(first?.sequenceNumber)).toBeLessThan(Number(got[1]?.sequenceNumber));
    expect(first?.enqueuedTimeUtc).toBeInstanceOf(Date);
    expect(first?.lockedUntilUtc!.getTime()).toBeGreaterThan(first!.enqueuedTimeUtc!.getTime());
    expect(first?.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const m of got) await receiver.completeMessage(m);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    await receiver.close();
  });

  it("unpacks a batch sized by the max_message_size the peer advertises", async () => {
    const sender = client.createSender("batches");
    const batch = await sender.createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(256 * 1024);
    for (let i = 0; i < 50; i++) expect(batch.tryAddMessage({ body: `item-${i}` })).toBe(true);
    await sender.sendMessages(batch);
    await sender.close();
    const got = await receiveAll("batches", 50, "receiveAndDelete");
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: 50 }, (_, i) => `item-${i}`));
    expect(new Set(got.map((m) => m.messageId)).size).toBe(50);
  });

  it("refuses a message larger than max_message_size", async () => {
    const sender = client.createSender("orders");
    await expect(sender.sendMessages({ body: "x".repeat(300 * 1024) })).rejects.toMatchObject({ code: "MessageSizeExceeded" });
    await sender.close();
  });

  it("keeps delivering peek-lock messages past the 2,048 unsettled deliveries a session buffer holds", async () => {
    const sender = client.createSender("many");
    let batch = await sender.createMessageBatch();
    for (let i = 0; i < 2_100; i++) {
      if (!batch.tryAddMessage({ body: i })) {
        await sender.sendMessages(batch);
        batch = await sender.createMessageBatch();
        batch.tryAddMessage({ body: i });
      }
    }
    await sender.sendMessages(batch);
    await sender.close();
    const got = await receiveAll("many", 2_100);
    expect(got).toHaveLength(2_100);
    expect(got.at(-1)?.body).toBe(2_099);
  });

  it("removes messages on receive-and-delete", async () => {
    const sender = client.createSender("rad");
    await sender.sendMessages([{ body: "a" }, { body: "b" }]);
    await sender.close();
    const receiver = client.createReceiver("rad", { receiveMode: "receiveAndDelete" });
    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1_000 });
    expect(got.map((m) => m.body)).toEqual(["a", "b"]);
    expect(got[0]?.lockToken).toBeUndefined();
    expect(await receiver.peekMessages(5)).toEqual([]);
    await receiver.close();
  });

  it("redelivers an abandoned message with a growing delivery count, and renews locks", async () => {
    const sender = client.createSender("locks");
    await sender.sendMessages({ body: "retry me" });
    await sender.close();
    const receiver = client.createReceiver("locks");
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(first?.deliveryCount).toBe(0);
    const renewed = await receiver.renewMessageLock(first!);
    expect(renewed.getTime()).toBeGreaterThanOrEqual(first!.lockedUntilUtc!.getTime());
    await receiver.abandonMessage(first!);
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(second?.body).toBe("retry me");
    expect(second?.deliveryCount).toBe(1);
    expect(second?.sequenceNumber?.toString()).toBe(first?.sequenceNumber?.toString());
    await receiver.abandonMessage(second!);
    const [third] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(third?.deliveryCount).toBe(2);
    await receiver.completeMessage(third!);
    expect(await receiver.peekMessages(1)).toEqual([]);
    await receiver.close();
  });

  it("redelivers a message whose lock expired, and refuses to settle it under the old lock", async () => {
    const short = await startTestServiceBus({ queues: ["q"], lockDurationMs: 300 });
    const shortClient = serviceBusClient(short);
    try {
      const sender = shortClient.createSender("q");
      await sender.sendMessages({ body: "slow consumer" });
      // The SDK renews locks on its own unless told not to.
      const receiver = shortClient.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
      const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
      const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
      expect(again?.body).toBe("slow consumer");
      expect(again?.deliveryCount).toBe(1);
      expect(again?.lockToken).not.toBe(first?.lockToken);
      await expect(receiver.completeMessage(first!)).rejects.toMatchObject({ code: "MessageLockLost" });
      await receiver.completeMessage(again!);
    } finally {
      await shortClient.close();
      await short.stop();
    }
  });

  it("dead-letters a message after maxDeliveryCount deliveries", async () => {
    const strict = await startTestServiceBus({ queues: ["q"], maxDeliveryCount: 2 });
    const strictClient = serviceBusClient(strict);
    try {
      const sender = strictClient.createSender("q");
      await sender.sendMessages({ body: "keeps failing" });
      const receiver = strictClient.createReceiver("q");
      for (let i = 0; i < 2; i++) {
        const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        await receiver.abandonMessage(m!);
      }
      const dlq = strictClient.createReceiver("q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
      const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
      expect(dead?.body).toBe("keeps failing");
      expect(dead?.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    } finally {
      await strictClient.close();
      await strict.stop();
    }
  });

  it("dead-letters with reason and description, reachable at <queue>/$DeadLetterQueue", async () => {
    const sender = client.createSender("dlq-demo");
    await sender.sendMessages({ body: "poison", messageId: "p1" });
    await sender.close();
    const receiver = client.createReceiver("dlq-demo");
    const [msg] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    await receiver.deadLetterMessage(msg!, { deadLetterReason: "Unparseable", deadLetterErrorDescription: "body is not JSON" });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    await receiver.close();
    const dlq = client.createReceiver("dlq-demo", { subQueueType: "deadLetter" });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(dead?.body).toBe("poison");
    expect(dead?.messageId).toBe("p1");
    expect(dead?.deadLetterReason).toBe("Unparseable");
    expect(dead?.deadLetterErrorDescription).toBe("body is not JSON");
    expect(dead?.deadLetterSource).toBe("dlq-demo");
    await dlq.completeMessage(dead!);
    await dlq.close();
  });

  it("peeks without locking, from the first message on", async () => {
    const sender = client.createSender("peeks");
    await sender.sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
    await sender.close();
    const receiver = client.createReceiver("peeks");
    const peeked = await receiver.peekMessages(2);
    expect(peeked.map((m) => m.body)).toEqual([1, 2]);
    expect(peeked[0]?.lockToken).toBeUndefined();
    expect((await receiver.peekMessages(5)).map((m) => m.body)).toEqual([3]);
    expect((await receiver.peekMessages(5, { fromSequenceNumber: peeked[0]!.sequenceNumber! })).map((m) => m.body)).toEqual([1, 2, 3]);
    const got = await receiver.receiveMessages(3, { maxWaitTimeInMs: 2_000 });
    expect(got.map((m) => m.body)).toEqual([1, 2, 3]);
    await receiver.close();
  });

  it("drops a message whose messageId was already sent within the duplicate detection window", async () => {
    const sender = client.createSender("dups");
    await sender.sendMessages({ body: "once", messageId: "same-id" });
    await sender.sendMessages({ body: "again", messageId: "same-id" });
    await sender.sendMessages({ body: "other", messageId: "other-id" });
    await sender.close();
    const got = await receiveAll("dups", 3, "receiveAndDelete");
    expect(got.map((m) => m.body)).toEqual(["once", "other"]);
  });

  it("schedules a message for later delivery", async () => {
    const sender = client.createSender("sched");
    const [seq] = await sender.scheduleMessages({ body: "later" }, new Date(Date.now() + 300));
    expect(Number(seq)).toBeGreaterThan(0);
    await sender.close();
    const receiver = client.createReceiver("sched");
    const [peeked] = await receiver.peekMessages(1);
    expect(peeked?.state).toBe("scheduled");
    const [got] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    expect(got?.body).toBe("later");
    await receiver.completeMessage(got!);
    await receiver.close();
  });

  it("fans a topic message out to every subscription, each with its own dead-letter queue", async () => {
    const sender = client.createSender("events");
    await sender.sendMessages({ body: "fan-out", subject: "RotationStarted" });
    await sender.close();
    const audit = client.createReceiver("events", "audit");
    const ops = client.createReceiver("events", "ops");
    const [a] = await audit.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    const [o] = await ops.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect([a?.body, o?.body]).toEqual(["fan-out", "fan-out"]);
    await audit.completeMessage(a!);
    await ops.deadLetterMessage(o!, { deadLetterReason: "Testing", deadLetterErrorDescription: "fan-out check" });
    await audit.close();
    await ops.close();
    const opsDlq = client.createReceiver("events", "ops", { subQueueType: "deadLetter" });
    const [dead] = await opsDlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(dead?.body).toBe("fan-out");
    expect(dead?.deadLetterReason).toBe("Testing");
    await opsDlq.completeMessage(dead!);
    await opsDlq.close();
  });

  it("streams messages to subscribe() handlers", async () => {
    const sender = client.createSender("events");
    await sender.sendMessages([{ body: "s1" }, { body: "s2" }, { body: "s3" }]);
    await sender.close();
    const receiver = client.createReceiver("events", "audit");
    const seen: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = receiver.subscribe(
        {
          processMessage: async (m) => {
            seen.push(m.body);
            if (seen.length === 3) {
              void sub.close().then(resolve, reject);
            }
          },
          processError: async (args) => reject(args.error),
        },
        { autoCompleteMessages: true },
      );
    });
    expect(seen).toEqual(["s1", "s2", "s3"]);
    await receiver.close();
    // The ops subscription got its own copies.
    const ops = await receiveAll("events/Subscriptions/ops", 3, "receiveAndDelete");
    expect(ops.map((m) => m.body)).toEqual(["s1", "s2", "s3"]);
  });

  it("refuses an unknown entity with MessagingEntityNotFound, as Service Bus does", async () => {
    const sender = client.createSender("no-such-queue");
    const err = await sender.sendMessages({ body: "x" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(err)).toBe(true);
    expect(err).toMatchObject({ code: "MessagingEntityNotFound" });
    await sender.close();
    const receiver = client.createReceiver("events", "no-such-subscription");
    await expect(receiver.receiveMessages(1, { maxWaitTimeInMs: 500 })).rejects.toMatchObject({ code: "MessagingEntityNotFound" });
    await receiver.close();
  });
});

describe("Service Bus peer in auto-create mode", () => {
  let auto: ServiceBusPeer;
  let autoClient: ServiceBusClient;
  beforeAll(async () => {
    auto = await startTestServiceBus({ autoCreate: true });
    autoClient = serviceBusClient(auto);
  });
  afterAll(async () => {
    await autoClient?.close();
    await auto?.stop();
  });

  it("creates a queue on first use, with duplicate detection on", async () => {
    const sender = autoClient.createSender("fresh-queue");
    await sender.sendMessages({ body: "hello", messageId: "x" });
    await sender.sendMessages({ body: "hello again", messageId: "x" });
    await sender.close();
    const receiver = autoClient.createReceiver("fresh-queue", { receiveMode: "receiveAndDelete" });
    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1_000 });
    expect(got.map((m) => m.body)).toEqual(["hello"]);
    await receiver.close();
  });

  it("creates a topic and its subscription when a subscription is first opened", async () => {
    const receiver = autoClient.createReceiver("fresh-topic", "watcher", { receiveMode: "receiveAndDelete" });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    const sender = autoClient.createSender("fresh-topic");
    await sender.sendMessages({ body: "to the topic" });
    await sender.close();
    const [got] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(got?.body).toBe("to the topic");
    await receiver.close();
  });
});
