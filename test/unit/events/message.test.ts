import { describe, expect, it } from "vitest";
import { eventMessageId, toEventMessage } from "../../../lib/events/message";
import type { RotationEvent } from "../../../lib/ports";

const event: RotationEvent = {
  type: "RotationStarted", keyId: "dek:contoso", tenant: "contoso", kind: "dek", rotationId: "dek:contoso@2026-01-01T00:00:00Z",
  phase: "locked", severity: "info", messageId: eventMessageId("dek:contoso@2026-01-01T00:00:00Z", "RotationStarted", 1),
  keyState: {}, at: "2026-01-01T00:00:00.000Z",
  guidance: { encryptionImpacted: false, decryptionValid: true, customerActionRequired: false, manualInterventionSafe: false, recommendedAction: "none" },
};

describe("event messages", () => {
  it("derives the message id from rotation, type and sequence only", () => {
    expect(eventMessageId("r1", "RewrapProgress", 3)).toBe("r1:RewrapProgress:3");
    expect(eventMessageId("r1", "RewrapProgress", 3)).toBe(eventMessageId("r1", "RewrapProgress", 3));
    expect(eventMessageId("r1", "RewrapProgress", 3)).not.toBe(eventMessageId("r1", "RewrapProgress", 4));
  });

  it("keeps long ids within Service Bus's 128 characters, still deterministic and distinct", () => {
    const long = `kek:demo-vault/${"k".repeat(120)}@emergency:req-1`;
    const a = eventMessageId(long, "Revoked", 1);
    expect(a.length).toBeLessThanOrEqual(128);
    expect(a).toBe(eventMessageId(long, "Revoked", 1));
    expect(a).not.toBe(eventMessageId(long, "Revoked", 2));
    expect(() => toEventMessage({ ...event, messageId: a })).not.toThrow();
  });

  it("maps an event to subject, properties and a JSON body", () => {
    const m = toEventMessage(event);
    expect(m.subject).toBe("RotationStarted");
    expect(m.contentType).toBe("application/json");
    expect(m.applicationProperties).toEqual({ keyId: "dek:contoso", tenant: "contoso", kind: "dek", rotationId: event.rotationId, phase: "locked", severity: "info" });
    expect(m.body.guidance).toEqual(event.guidance);
    expect(JSON.parse(JSON.stringify(m.body))).toEqual(m.body);
  });

  it("refuses a message id Service Bus would refuse", () => {
    expect(() => toEventMessage({ ...event, messageId: "x".repeat(129) })).toThrow(/\[keyrotor\] \[events\] messageId must be 1-128/);
    expect(() => toEventMessage({ ...event, messageId: "" })).toThrow(/messageId/);
  });
});
