import { afterEach, describe, expect, it, vi } from "vitest";
import { initTelemetry, resetTelemetry, rotationMetrics, telemetryMode, withSpan } from "../../../lib/telemetry";

afterEach(async () => {
  vi.restoreAllMocks();
  await resetTelemetry();
});

describe("telemetry start-up", () => {
  it("selects Azure Monitor when a connection string is set, console behind the flag, otherwise nothing", () => {
    const cs = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:1/";
    expect(telemetryMode({ APPLICATIONINSIGHTS_CONNECTION_STRING: cs, KEYROTOR_TELEMETRY_CONSOLE: true, AZURE_CLIENT_ID: undefined })).toBe("azure-monitor");
    expect(telemetryMode({ APPLICATIONINSIGHTS_CONNECTION_STRING: undefined, KEYROTOR_TELEMETRY_CONSOLE: true, AZURE_CLIENT_ID: undefined })).toBe("console");
    expect(telemetryMode({ APPLICATIONINSIGHTS_CONNECTION_STRING: undefined, KEYROTOR_TELEMETRY_CONSOLE: false, AZURE_CLIENT_ID: undefined })).toBe("none");
  });

  it("prints spans and metrics to the console when KEYROTOR_TELEMETRY_CONSOLE is on", async () => {
    const printed: unknown[] = [];
    vi.spyOn(console, "dir").mockImplementation((o: unknown) => void printed.push(o));
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const h = initTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: undefined, KEYROTOR_TELEMETRY_CONSOLE: true, AZURE_CLIENT_ID: undefined });
    expect(h.mode).toBe("console");
    expect(initTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: undefined, KEYROTOR_TELEMETRY_CONSOLE: false, AZURE_CLIENT_ID: undefined })).toBe(h);

    await withSpan("promote", { rotationId: "r1", keyId: "kek:v/k", kind: "kek", phase: "promoted" }, () => undefined);
    rotationMetrics().rotationStarted({ kind: "kek", trigger: "manual" });
    await h.shutdown(); // flushes the metric reader

    const text = JSON.stringify(printed);
    expect(text).toContain("keyrotor.promote");
    expect(text).toContain("keyrotor.rotationId");
    expect(text).toContain("keyrotor.rotations.started");
  });

  it("stays silent and costs nothing when neither is set", async () => {
    const dir = vi.spyOn(console, "dir");
    const h = initTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: undefined, KEYROTOR_TELEMETRY_CONSOLE: false, AZURE_CLIENT_ID: undefined });
    expect(h.mode).toBe("none");
    await withSpan("plan", {}, () => undefined);
    rotationMetrics().rotationStarted({ kind: "dek", trigger: "schedule" });
    await h.shutdown();
    expect(dir).not.toHaveBeenCalled();
  });
});
