// A responder's view: a real ServiceBusReceiver on a subscription of the events topic receives one
// rotation's events in order, each telling it what to do; replays (same messageId) are dropped by
// Service Bus duplicate detection.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import { responderGuidance } from "../../../lib/domain/guidance";
import type { RotationPhase } from "../../../lib/domain/keys";
import { ServiceBusEventPublisher, eventMessageId, shouldPublishProgress, type ProgressPoint } from "../../../lib/events";
import { memoryLedger } from "../../../lib/ledger";
import type { RotationEvent, RotationEventType } from "../../../lib/ports";
import { serviceBusClient, startTestServiceBus, type ServiceBusPeer } from "../../support/servicebus";

const TOPIC = "key-rotation-events";
let peer: ServiceBusPeer;
let client: ServiceBusClient;

beforeAll(async () => {
  peer = await startTestServiceBus({ topics: { [TOPIC]: ["responders", "audit"] }, duplicateDetectionWindowMs: 10 * 60_000 });
  client = serviceBusClient(peer);
});
afterAll(async () => {
  await client?.close();
  await peer?.stop();
});

const keyId = "kek:demo-vault/tenant-kek";
const rotationId = `${keyId}@2026-04-01T00:00:00Z`;

function event(type: RotationEventType, phase: RotationPhase, seq: number, at: string, details?: RotationEvent["details"]): RotationEvent {
  const { guidance, severity } = responderGuidance({ type, keyId, kind: "kek", rotationId, phase, ...(details ? { details } : {}) });
  return {
    type, keyId, tenant: "contoso", kind: "kek", rotationId, phase, severity, guidance, at,
    messageId: eventMessageId(rotationId, type, seq),
    keyState: { primaryVersion: "v2", versions: [{ version: "v1", state: "secondary" }, { version: "v2", state: "primary" }] },
    ...(details ? { details } : {}),
  };
}

/** One rotation as the orchestrator would announce it: progress every 250 DEKs of 2,000, one batch
 * per 10 s, thinned by the rate limit. */
function rotationStory(): RotationEvent[] {
  const story = [
    event("RotationStarted", "locked", 1, "2026-04-01T00:00:00.000Z"),
    event("VersionCreated", "versionCreated", 1, "2026-04-01T00:00:01.000Z"),
    event("Promoted", "promoted", 1, "2026-04-01T00:00:02.000Z"),
  ];
  let last: ProgressPoint | undefined;
  for (let batch = 1; batch <= 8; batch++) {
    const point = { at: new Date(Date.parse("2026-04-01T00:00:02.000Z") + batch * 10_000).toISOString(), rewrapped: batch * 250, total: 2000 };
    if (!shouldPublishProgress(last, point)) continue;
    last = point;
    story.push(event("RewrapProgress", "rewrapping", batch, point.at, { rewrapped: point.rewrapped, total: point.total }));
  }
  story.push(event("RotationCompleted", "completed", 1, "2026-04-01T00:02:00.000Z"));
  return story;
}

it("a consumer receives a rotation's events in order, each with its guidance, and replays only once", async () => {
  const story = rotationStory();
  const progress = story.filter((e) => e.type === "RewrapProgress");
  expect(progress.length).toBeGreaterThan(1);
  expect(progress.length).toBeLessThan(8); // rate-limited: not one per batch

  const receiver = client.createReceiver(TOPIC, "responders");
  const publisher = new ServiceBusEventPublisher(client.createSender(TOPIC), memoryLedger());
  for (const e of story) await publisher.publish(e);
  // The orchestration replays: the same steps publish again with the same message ids.
  for (const e of story.slice(0, 4)) await publisher.publish(e);
  await publisher.close();

  const received: ServiceBusReceivedMessage[] = [];
  await new Promise<void>((resolve, reject) => {
    const sub = receiver.subscribe(
      {
        processMessage: async (m) => {
          received.push(m);
          if (received.length === story.length) void sub.close().then(resolve, reject);
        },
        processError: async (args) => reject(args.error),
      },
      { autoCompleteMessages: true },
    );
  });
  // Nothing beyond the story: the replays were dropped as duplicates.
  expect(await receiver.peekMessages(10)).toEqual([]);
  await receiver.close();

  expect(received.map((m) => m.messageId)).toEqual(story.map((e) => e.messageId));
  expect(received.map((m) => m.subject)).toEqual(story.map((e) => e.type));
  for (const m of received) {
    expect(m.contentType).toBe("application/json");
    expect(m.applicationProperties).toMatchObject({ keyId, tenant: "contoso", kind: "kek", rotationId });
    expect(m.body.rotationId).toBe(rotationId);
    expect(m.body.phase).toBe(m.applicationProperties?.["phase"]);
    expect(m.body.keyState.primaryVersion).toBe("v2");
    expect(Object.keys(m.body.guidance).sort()).toEqual(["customerActionRequired", "decryptionValid", "encryptionImpacted", "manualInterventionSafe", "recommendedAction"]);
    expect(m.body.guidance.recommendedAction).toContain(rotationId);
  }
  const last = received.at(-1)!;
  expect(last.body.guidance).toMatchObject({ encryptionImpacted: false, decryptionValid: true, customerActionRequired: false });

  // The other subscription got its own full copy.
  const audit = client.createReceiver(TOPIC, "audit", { receiveMode: "receiveAndDelete" });
  const copies = await audit.receiveMessages(story.length + 5, { maxWaitTimeInMs: 1_000 });
  expect(copies.map((m) => m.messageId)).toEqual(story.map((e) => e.messageId));
  await audit.close();
});

it("a failed rotation tells the responder what is safe to do, filterable by severity", async () => {
  const receiver = client.createReceiver(TOPIC, "responders", { receiveMode: "receiveAndDelete" });
  const publisher = new ServiceBusEventPublisher(client.createSender(TOPIC), memoryLedger());
  const failed = event("RotationFailed", "rewrapping", 1, "2026-04-01T00:03:00.000Z");
  await publisher.publish(failed);
  await publisher.close();
  const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
  await receiver.close();
  expect(m?.subject).toBe("RotationFailed");
  expect(m?.applicationProperties?.["severity"]).toBe("critical");
  expect(m?.body.guidance).toMatchObject({ encryptionImpacted: false, decryptionValid: true, manualInterventionSafe: true });
  expect(m?.body.guidance.recommendedAction).toMatch(/rewrapping/);
  expect(m?.body.guidance.recommendedAction).toMatch(/[Rr]etry/);
});
