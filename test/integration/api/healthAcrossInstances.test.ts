// Flex Consumption runs the HTTP functions, the durable functions and the timer on different
// instances that share only storage: a notification failure recorded where an activity published
// must show in /api/health answered by another instance, built fresh from the same configuration.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { loadConfig } from "../../../lib/config";
import { ReliableEventPublisher } from "../../../lib/events";
import { MemoryNotificationHealthStore } from "../../../lib/events/healthStore";
import { memoryLedger } from "../../../lib/ledger";
import { health } from "../../../lib/api/queries";
import { apiServices, memoryApiServices } from "../../../lib/api/services";
import { TableNotificationHealthStore } from "../../../lib/stores/notificationHealthStore";
import { tableClient } from "../../../lib/stores/tables";
import { uniqueTableName } from "../../support/tables";
import { createRotationDeps } from "../../../lib/orchestration/deps";
import { startTestServiceBus, type ServiceBusPeer } from "../../support/servicebus";
import { rotationEvent } from "../events/publisherContract";

let bus: ServiceBusPeer;
beforeAll(async () => {
  bus = await startTestServiceBus({ topics: { "key-rotation-events": ["contract"] } });
});
afterAll(async () => {
  await bus?.stop();
});

function azuriteConfig() {
  return loadConfig({
    KEYROTOR_TABLES_CONNECTION: inject("azuriteConnectionString"),
    KEYROTOR_TABLE_LOCKS: uniqueTableName("locks"),
    // Never reached: the instance that answers /api/health publishes nothing.
    KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
    KEYROTOR_VAULT_URLS: "demo-vault=https://127.0.0.1:8443",
  });
}

const quiet = { log: () => {}, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } };

describe("notification health is read from storage, not from the memory of the instance that published", () => {
  it("a failure recorded by the durable instance shows in /api/health of a fresh HTTP instance", async () => {
    const cfg = azuriteConfig();
    const store = new TableNotificationHealthStore(tableClient(cfg, "locks"));
    const worker = new ReliableEventPublisher(() => Promise.reject(new Error("ServiceBusDown")), memoryLedger(), { ...quiet, healthStore: store });
    await worker.publish(rotationEvent("Promoted", 1));

    const httpInstance = await apiServices(cfg, { ledger: memoryLedger() });
    const h = await health(httpInstance);
    expect(h.status).toBe("degraded");
    expect(h.components.notifications).toMatchObject({ status: "degraded", failures: 1, lastFailureAt: expect.any(String) });
  });

  it("the activities' own composition (createRotationDeps) records its failed publishes where a fresh HTTP instance reads them", async () => {
    const cfg = { ...azuriteConfig(), KEYROTOR_SERVICEBUS_CONNECTION: bus.connectionString, KEYROTOR_EVENTS_TOPIC: "no-such-topic" };
    const activities = await createRotationDeps(cfg, { ledger: memoryLedger() });
    try {
      await activities.events.publish(rotationEvent("Promoted", 1));
    } finally {
      await activities.close();
    }
    const httpInstance = await apiServices(cfg, { ledger: memoryLedger() });
    expect((await health(httpInstance)).components.notifications).toMatchObject({ status: "degraded", failures: 1 });
  });

  it("a later delivery from any instance clears it, and failures racing from many instances are all counted", async () => {
    const cfg = azuriteConfig();
    const instances = Array.from({ length: 6 }, () => new TableNotificationHealthStore(tableClient(cfg, "locks")));
    await Promise.all(instances.map((s, i) =>
      new ReliableEventPublisher(() => Promise.reject(new Error("down")), memoryLedger(), { ...quiet, healthStore: s }).publish(rotationEvent("Promoted", i))));
    const reader = await apiServices(cfg, { ledger: memoryLedger() });
    expect((await health(reader)).components.notifications).toMatchObject({ status: "degraded", failures: 6 });

    const recovered = new ReliableEventPublisher(() => Promise.resolve(), memoryLedger(), { ...quiet, healthStore: instances[0]! });
    await recovered.publish(rotationEvent("Promoted", 99));
    expect((await health(reader)).components.notifications).toMatchObject({ status: "ok", failures: 6 });
  });

  it("two in-memory compositions handed one store (the local stand-in for one storage account) agree", async () => {
    const shared = new MemoryNotificationHealthStore();
    const a = memoryApiServices({ notificationHealth: shared });
    const b = memoryApiServices({ notificationHealth: shared });
    await shared.recordFailure("2026-01-01T00:00:00.000Z");
    expect((await health(b.services)).components.notifications).toMatchObject({ status: "degraded", failures: 1 });
    await a.events.publish(rotationEvent("Promoted", 1));
    expect((await health(b.services)).components.notifications).toMatchObject({ status: "ok" });
  });
});
