// Events the triggers and the API publish themselves (the orchestrations publish the rest): each
// carries the responder guidance of lib/domain/guidance.ts and a deterministic messageId, so a
// redelivered Event Grid event or a repeated timer run is dropped by duplicate detection.
import { createHash } from "node:crypto";
import { responderGuidance } from "../domain/guidance";
import { KEY_KINDS, type KeyKind } from "../domain/keys";
import { eventMessageId } from "../events";
import type { RotationEvent, RotationEventType } from "../ports";
import type { ApiServices } from "./ports";

export interface Notice {
  type: RotationEventType;
  keyId: string;
  /** Defaults to the key's kind read from its keyId. */
  kind?: KeyKind;
  tenant?: string;
  /** Identifies the occurrence: the rotationId, or e.g. `<keyId>@warn:<version>:<threshold>`. */
  occurrenceId: string;
  rotationId?: string;
  details?: Record<string, string | number | boolean>;
}

function kindOf(keyId: string): KeyKind {
  const k = keyId.split(":")[0] ?? "";
  return (KEY_KINDS as readonly string[]).includes(k) ? (k as KeyKind) : "secret";
}

/** A short stable id: Service Bus caps messageId at 128 characters. */
function messageIdFor(occurrenceId: string, type: RotationEventType): string {
  const id = eventMessageId(occurrenceId, type, 0);
  if (id.length <= 128) return id;
  return eventMessageId(createHash("sha256").update(occurrenceId).digest("hex").slice(0, 40), type, 0);
}

export async function notify(s: Pick<ApiServices, "events" | "clock" | "inventory">, n: Notice): Promise<RotationEvent> {
  const kind = n.kind ?? kindOf(n.keyId);
  const stored = n.tenant === undefined ? await s.inventory.get(n.keyId) : undefined;
  const tenant = n.tenant ?? stored?.key.tenant ?? "unknown";
  const { guidance, severity } = responderGuidance({
    type: n.type, keyId: n.keyId, kind, ...(n.rotationId ? { rotationId: n.rotationId } : {}), ...(n.details ? { details: n.details } : {}),
  });
  const key = stored?.key;
  const event: RotationEvent = {
    type: n.type, keyId: n.keyId, tenant, kind, severity, guidance,
    messageId: messageIdFor(n.occurrenceId, n.type),
    ...(n.rotationId ? { rotationId: n.rotationId } : {}),
    keyState: key ? { ...(key.primaryVersion ? { primaryVersion: key.primaryVersion } : {}), versions: key.versions.map((v) => ({ version: v.version, state: v.state })) } : {},
    at: s.clock.now().toISOString(),
    ...(n.details ? { details: n.details } : {}),
  };
  await s.events.publish(event);
  return event;
}
