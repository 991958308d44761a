// Telemetry for keyrotor: spans per phase, metric instruments, structured logs. See names.ts for
// the names infra/ alert rules and the workbook query.
export { initTelemetry, ensureTelemetry, installTelemetryProviders, telemetrySettingsFromEnv, resetTelemetry, telemetryMode, type TelemetryHandle, type TelemetryMode, type TelemetrySettings } from "./init";
export { withSpan, spanAttributes, type RotationSpanAttributes } from "./spans";
export {
  createRotationMetrics, rotationMetrics, rebindRotationMetrics,
  type RotationMetrics, type RotationLabels, type KeyHealth, type LockPastLease,
} from "./metrics";
export { createLogger, logFields, setDefaultLogSink, REDACTED, ALWAYS_PRESENT_FIELDS, type LogContext, type LogSink, type LogLevel, type LogValue, type StructuredLogger } from "./log";
export { METRIC_NAMES, METRIC_ATTRIBUTES, SPAN_ATTRIBUTES, LOG_FIELDS, type MetricName, type LogFieldName } from "./names";
