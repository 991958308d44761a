// One contract for every EventPublisher adapter (unjs/unstorage style): what a consumer receives,
// duplicate suppression, ordering, and what happens when delivery fails.
import { describe, expect, it } from "vitest";
import { DependencyUnavailableError } from "../../../lib/domain/errors";
import { responderGuidance } from "../../../lib/domain/guidance";
import { eventMessageId, type EventMessage, type ReliableEventPublisher } from "../../../lib/events";
import { memoryLedger } from "../../../lib/ledger";
import type { Ledger, LedgerEntry, RotationEvent, RotationEventType } from "../../../lib/ports";

export interface PublisherHarness {
  publisher: ReliableEventPublisher;
  /** What a consumer receives next: up to n messages, in order (waits briefly for them). */
  receive(n: number): Promise<EventMessage[]>;
  close(): Promise<void>;
}

export interface PublisherFactory {
  /** A publisher that delivers, recording failures in `ledger`. */
  working(ledger: Ledger): Promise<PublisherHarness>;
  /** A publisher whose deliveries always fail (for that adapter's real reason). */
  broken(ledger: Ledger): Promise<Pick<PublisherHarness, "publisher" | "close">>;
}

export function rotationEvent(type: RotationEventType, seq: number | string, over: Partial<RotationEvent> = {}): RotationEvent {
  const keyId = over.keyId ?? "kek:demo-vault/tenant-kek";
  const rotationId = over.rotationId ?? `${keyId}@2026-01-01T00:00:00Z`;
  const phase = over.phase ?? "rewrapping";
  const { guidance, severity } = responderGuidance({ type, keyId, kind: "kek", rotationId, phase });
  return {
    type, keyId, tenant: "contoso", kind: "kek", rotationId, phase, severity, guidance,
    messageId: eventMessageId(rotationId, type, seq),
    keyState: { primaryVersion: "v2", versions: [{ version: "v1", state: "secondary" }, { version: "v2", state: "primary" }] },
    at: "2026-01-01T00:05:00.000Z",
    ...over,
  };
}

async function entriesOf(ledger: Ledger, keyId: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const e of ledger.entries(keyId)) out.push(e);
  return out;
}

export function describePublisherContract(name: string, factory: PublisherFactory): void {
  describe(`EventPublisher contract: ${name}`, () => {
    it("delivers subject = type, the filter properties, a JSON body with guidance, and the caller's messageId", async () => {
      const h = await factory.working(memoryLedger());
      try {
        const event = rotationEvent("RotationFailed", 1, { details: { rewrapped: 10, total: 100 } });
        await h.publisher.publish(event);
        const [m] = await h.receive(1);
        expect(m).toEqual({
          messageId: event.messageId,
          subject: "RotationFailed",
          contentType: "application/json",
          applicationProperties: { keyId: event.keyId, tenant: "contoso", kind: "kek", rotationId: event.rotationId, phase: "rewrapping", severity: "critical" },
          body: {
            type: "RotationFailed", keyId: event.keyId, tenant: "contoso", kind: "kek", rotationId: event.rotationId, phase: "rewrapping",
            severity: "critical", keyState: event.keyState, guidance: event.guidance, at: event.at, details: { rewrapped: 10, total: 100 },
          },
        });
        expect(m?.messageId).toBe(`${event.rotationId}:RotationFailed:1`);
      } finally {
        await h.close();
      }
    });

    it("leaves rotationId and phase out of the properties of an event that has none", async () => {
      const h = await factory.working(memoryLedger());
      try {
        const { rotationId: _r, phase: _p, ...noRotation } = rotationEvent("ExpiryWarning", "P7D");
        await h.publisher.publish({ ...noRotation, messageId: "kek:demo-vault/tenant-kek:ExpiryWarning:P7D" });
        const [m] = await h.receive(1);
        expect(m?.applicationProperties).toEqual({ keyId: "kek:demo-vault/tenant-kek", tenant: "contoso", kind: "kek", severity: "warning" });
        expect(m?.body).not.toHaveProperty("rotationId");
      } finally {
        await h.close();
      }
    });

    it("delivers events in publish order and drops a republished messageId", async () => {
      const h = await factory.working(memoryLedger());
      try {
        const events = [rotationEvent("RotationStarted", 1), rotationEvent("VersionCreated", 1), rotationEvent("Promoted", 1)];
        for (const e of events) await h.publisher.publish(e);
        await h.publisher.publish(events[1]!); // a replayed orchestration step
        await h.publisher.publish(rotationEvent("RotationCompleted", 1));
        const got = await h.receive(6);
        expect(got.map((m) => m.subject)).toEqual(["RotationStarted", "VersionCreated", "Promoted", "RotationCompleted"]);
        expect(h.publisher.notificationHealth()).toMatchObject({ ok: true, failures: 0 });
      } finally {
        await h.close();
      }
    });

    it("records an undeliverable event as NotificationFailed and reports unhealthy, without throwing", async () => {
      const ledger = memoryLedger();
      const b = await factory.broken(ledger);
      try {
        const event = rotationEvent("RotationFailed", 7);
        await expect(b.publisher.publish(event)).resolves.toBeUndefined();
        const entries = await entriesOf(ledger, event.keyId);
        expect(entries).toHaveLength(1);
        expect(entries[0]).toMatchObject({
          type: "NotificationFailed", rotationId: event.rotationId, actor: "system:events", entryId: `NotificationFailed:${event.messageId}`,
          details: { eventType: "RotationFailed", messageId: event.messageId, severity: "critical" },
        });
        expect(entries[0]?.error?.code).toMatch(/\w+/);
        const health = b.publisher.notificationHealth();
        expect(health.ok).toBe(false);
        expect(health.failures).toBe(1);
        expect(Date.parse(health.lastFailureAt ?? "")).not.toBeNaN();
      } finally {
        await b.close();
      }
    });

    it("throws when the failure cannot even be recorded in the ledger", async () => {
      const downLedger: Ledger = {
        append: async () => {
          throw new Error("tables down");
        },
        entries: async function* () {},
      };
      const b = await factory.broken(downLedger);
      try {
        await expect(b.publisher.publish(rotationEvent("Revoked", 1))).rejects.toBeInstanceOf(DependencyUnavailableError);
        expect(b.publisher.notificationHealth().ok).toBe(false);
      } finally {
        await b.close();
      }
    });
  });
}
