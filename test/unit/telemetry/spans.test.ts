import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SpanStatusCode } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { SPAN_ATTRIBUTES, withSpan } from "../../../lib/telemetry";

let exporter: InMemorySpanExporter;
let provider: BasicTracerProvider;
beforeEach(() => {
  exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
});
afterEach(async () => {
  await provider.shutdown();
});

describe("withSpan", () => {
  it("ends one span per phase carrying rotationId, keyId, kind and phase, and returns fn's result", async () => {
    const tracer = provider.getTracer("keyrotor");
    const attrs = { rotationId: "kek:demo-vault/k@2026-01-01T00:00Z", keyId: "kek:demo-vault/k", kind: "kek" as const, phase: "versionCreated" };
    const result = await withSpan("createVersion", attrs, async () => 7, tracer);
    expect(result).toBe(7);
    const [span] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(span?.name).toBe("keyrotor.createVersion");
    expect(span?.attributes).toEqual({
      [SPAN_ATTRIBUTES.rotationId]: attrs.rotationId,
      [SPAN_ATTRIBUTES.keyId]: attrs.keyId,
      [SPAN_ATTRIBUTES.kind]: "kek",
      [SPAN_ATTRIBUTES.phase]: "versionCreated",
    });
    expect(span?.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("marks the span failed with the error's name and message, and rethrows", async () => {
    const tracer = provider.getTracer("keyrotor");
    const boom = new RangeError("[keyrotor] [vault] throttled");
    await expect(withSpan("rewrapBatch", { keyId: "dek:contoso", kind: "dek", phase: "rewrapping" }, () => Promise.reject(boom), tracer)).rejects.toBe(boom);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "RangeError: [keyrotor] [vault] throttled" });
    expect(span?.attributes["exception.type"]).toBe("RangeError");
    expect(span?.ended).toBe(true);
  });

  it("leaves out attributes that were not given", async () => {
    await withSpan("planner", {}, () => undefined, provider.getTracer("keyrotor"));
    expect(exporter.getFinishedSpans()[0]?.attributes).toEqual({});
  });
});
