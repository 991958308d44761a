// Telemetry start-up: Azure Monitor when a connection string is set, console exporters behind a
// flag on the local host, otherwise nothing (the API's no-op providers).
import { metrics, trace, type TracerProvider } from "@opentelemetry/api";
import { createRequire } from "node:module";
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { MeterProvider as MeterProviderApi } from "@opentelemetry/api";
import { settingsSchema, type Config } from "../config";
import { rebindRotationMetrics } from "./metrics";

export type TelemetryMode = "azure-monitor" | "console" | "none";

export type TelemetrySettings = Pick<Config, "APPLICATIONINSIGHTS_CONNECTION_STRING" | "KEYROTOR_TELEMETRY_CONSOLE" | "AZURE_CLIENT_ID">;

export interface TelemetryHandle {
  mode: TelemetryMode;
  /** Flushes and stops the exporters (hosts call it on SIGTERM). */
  shutdown(): Promise<void>;
}

/** Which exporter the settings select. Azure Monitor wins when both are set: in Azure the console
 * goes to the same place as the exporter, and printing twice helps nobody. */
export function telemetryMode(s: TelemetrySettings): TelemetryMode {
  if (s.APPLICATIONINSIGHTS_CONNECTION_STRING) return "azure-monitor";
  if (s.KEYROTOR_TELEMETRY_CONSOLE) return "console";
  return "none";
}

let active: TelemetryHandle | undefined;
const loadModule = createRequire(__filename);

/** Starts telemetry once per process; later calls return the first handle. */
export function initTelemetry(s: TelemetrySettings, opts: { metricIntervalMs?: number } = {}): TelemetryHandle {
  if (active) return active;
  const mode = telemetryMode(s);
  if (mode === "azure-monitor") {
    // Loaded only here: the distro takes ~2 s to load, which every importer of withSpan or
    // rotationMetrics (and every test) would otherwise pay on cold start.
    const { useAzureMonitor, shutdownAzureMonitor } = loadModule("@azure/monitor-opentelemetry") as typeof import("@azure/monitor-opentelemetry");
    const { ManagedIdentityCredential } = loadModule("@azure/identity") as typeof import("@azure/identity");
    useAzureMonitor({
      azureMonitorExporterOptions: {
        connectionString: s.APPLICATIONINSIGHTS_CONNECTION_STRING,
        // With local authentication disabled on Application Insights (infra/ does that) the
        // exporter must present an Entra token: the user-assigned identity's.
        ...(s.AZURE_CLIENT_ID ? { credential: new ManagedIdentityCredential({ clientId: s.AZURE_CLIENT_ID }) } : {}),
      },
    });
    rebindRotationMetrics();
    active = { mode, shutdown: () => shutdownAzureMonitor() };
  } else if (mode === "console") {
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] });
    const meterProvider = new MeterProvider({
      readers: [new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: opts.metricIntervalMs ?? 60_000 })],
    });
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
    rebindRotationMetrics();
    active = {
      mode,
      shutdown: async () => {
        await meterProvider.shutdown();
        await tracerProvider.shutdown();
      },
    };
  } else {
    active = { mode, shutdown: async () => undefined };
  }
  return active;
}

/** For tests and hosts that restart the app in one process: stops and forgets the handle. */
export async function resetTelemetry(): Promise<void> {
  const h = active;
  active = undefined;
  await h?.shutdown();
  trace.disable();
  metrics.disable();
  rebindRotationMetrics();
}

/** The three telemetry settings read straight from the environment: telemetry must start even in a
 * process whose other settings are missing or wrong (config() reports those where they are used). */
export function telemetrySettingsFromEnv(env: Record<string, string | undefined> = process.env): TelemetrySettings {
  const text = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const consoleFlag = settingsSchema.KEYROTOR_TELEMETRY_CONSOLE.safeParse(text("KEYROTOR_TELEMETRY_CONSOLE"));
  return {
    APPLICATIONINSIGHTS_CONNECTION_STRING: text("APPLICATIONINSIGHTS_CONNECTION_STRING"),
    KEYROTOR_TELEMETRY_CONSOLE: consoleFlag.success ? consoleFlag.data : false,
    AZURE_CLIENT_ID: text("AZURE_CLIENT_ID"),
  };
}

/** Starts telemetry from the environment on first call (the composition roots and the activity
 * wrapper call it, so whichever function the worker runs first starts it); cheap afterwards. A
 * failing exporter set-up never takes the app down: it is reported and telemetry stays off. */
export function ensureTelemetry(env: Record<string, string | undefined> = process.env): TelemetryHandle {
  if (active) return active;
  try {
    return initTelemetry(telemetrySettingsFromEnv(env));
  } catch (err) {
    console.error(`[keyrotor] [telemetry] could not start (${(err as Error).message}); continuing without telemetry`);
    active = { mode: "none", shutdown: async () => undefined };
    return active;
  }
}

/** Test hook: registers the given providers (e.g. with in-memory exporters) as the process-wide
 * ones and rebinds the instruments, as initTelemetry does; later initTelemetry/ensureTelemetry calls
 * return this handle. Undo with resetTelemetry(). */
export function installTelemetryProviders(p: { tracerProvider?: TracerProvider; meterProvider?: MeterProviderApi }): TelemetryHandle {
  trace.disable();
  metrics.disable();
  if (p.tracerProvider) trace.setGlobalTracerProvider(p.tracerProvider);
  if (p.meterProvider) metrics.setGlobalMeterProvider(p.meterProvider);
  rebindRotationMetrics();
  active = { mode: "console", shutdown: async () => undefined };
  return active;
}
