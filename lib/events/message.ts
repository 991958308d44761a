// How a RotationEvent travels on Service Bus: subject = type, filterable application properties, a
// JSON body with the rotation, phase, key state and responder guidance, and a deterministic
// messageId so duplicate detection drops replays (orchestrations replay; Event Grid redelivers).
import { createHash } from "node:crypto";
import type { RotationEvent, RotationEventType } from "../ports";

/** Deterministic message id: the same (rotation, type, seq) always yields the same id. `seq`
 * tells apart events of one type within a rotation (e.g. the n-th RewrapProgress). */
export function eventMessageId(rotationId: string, type: RotationEventType, seq: number | string): string {
  const id = `${rotationId}:${type}:${seq}`;
  if (id.length <= MAX_MESSAGE_ID) return id;
  // Long keyIds and request ids: keep a readable prefix, stay unique and deterministic.
  return `${id.slice(0, MAX_MESSAGE_ID - 41)}~${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
}

export type EventProperties = Record<string, string>;

/** The Service Bus message for an event, as plain data (the memory publisher keeps the same shape). */
export interface EventMessage {
  messageId: string;
  subject: RotationEventType;
  contentType: "application/json";
  applicationProperties: EventProperties;
  body: EventBody;
}

export interface EventBody {
  type: RotationEventType;
  keyId: string;
  tenant: string;
  kind: RotationEvent["kind"];
  rotationId?: string;
  phase?: RotationEvent["phase"];
  severity: RotationEvent["severity"];
  keyState: RotationEvent["keyState"];
  guidance: RotationEvent["guidance"];
  at: string;
  details?: RotationEvent["details"];
}

/** Service Bus limits a message id to 128 characters. */
const MAX_MESSAGE_ID = 128;

export function toEventMessage(event: RotationEvent): EventMessage {
  if (event.messageId.length === 0 || event.messageId.length > MAX_MESSAGE_ID) {
    throw new Error(`[keyrotor] [events] messageId must be 1-${MAX_MESSAGE_ID} characters, got ${event.messageId.length} for ${event.type} of ${event.keyId}`);
  }
  const applicationProperties: EventProperties = { keyId: event.keyId, tenant: event.tenant, kind: event.kind, severity: event.severity };
  if (event.rotationId !== undefined) applicationProperties["rotationId"] = event.rotationId;
  if (event.phase !== undefined) applicationProperties["phase"] = event.phase;
  return {
    messageId: event.messageId,
    subject: event.type,
    contentType: "application/json",
    applicationProperties,
    body: {
      type: event.type,
      keyId: event.keyId,
      tenant: event.tenant,
      kind: event.kind,
      ...(event.rotationId !== undefined ? { rotationId: event.rotationId } : {}),
      ...(event.phase !== undefined ? { phase: event.phase } : {}),
      severity: event.severity,
      keyState: event.keyState,
      guidance: event.guidance,
      at: event.at,
      ...(event.details !== undefined ? { details: event.details } : {}),
    },
  };
}
