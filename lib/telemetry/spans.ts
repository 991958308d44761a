// One span per rotation phase and activity. Use it in activities, entities and handlers — not in
// orchestrator generators: they replay, and a span per replay would count every phase many times.
import { SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";
import type { KeyKind } from "../domain/keys";
import { SPAN_ATTRIBUTES as S } from "./names";

export interface RotationSpanAttributes {
  rotationId?: string;
  keyId?: string;
  kind?: KeyKind;
  /** A RotationPhase, or the name of a smaller workflow's step (retirement, rollback). */
  phase?: string;
}

export function spanAttributes(a: RotationSpanAttributes): Attributes {
  const out: Attributes = {};
  if (a.rotationId !== undefined) out[S.rotationId] = a.rotationId;
  if (a.keyId !== undefined) out[S.keyId] = a.keyId;
  if (a.kind !== undefined) out[S.kind] = a.kind;
  if (a.phase !== undefined) out[S.phase] = a.phase;
  return out;
}

/** Runs fn inside an active span carrying rotationId, keyId, kind and phase. A thrown error marks
 * the span failed (with the error's name and message, never its data) and is rethrown. */
export async function withSpan<T>(
  name: string,
  attrs: RotationSpanAttributes,
  fn: () => Promise<T> | T,
  tracer: Tracer = trace.getTracer("keyrotor"),
): Promise<T> {
  return tracer.startActiveSpan(`keyrotor.${name}`, { attributes: spanAttributes(attrs) }, async (span) => {
    try {
      return await fn();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${err.name}: ${err.message}` });
      span.setAttribute("exception.type", err.name);
      throw e;
    } finally {
      span.end();
    }
  });
}
