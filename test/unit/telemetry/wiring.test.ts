// Where the app feeds telemetry: the activity wrapper's rotation context, the timer's key health,
// and Key Vault 429s counted where they are translated.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RestError, createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { keyHealthOf, OVERDUE_GRACE_MS } from "../../../lib/api/timer";
import type { ManagedKey } from "../../../lib/domain/keys";
import type { PlanItem } from "../../../lib/domain/planner";
import { activityTelemetryContext } from "../../../lib/orchestration/handlers";
import { installTelemetryProviders, METRIC_NAMES, resetTelemetry } from "../../../lib/telemetry";
import { translateKeyVaultError } from "../../../lib/vault/errors";

const NOW = new Date("2026-03-01T00:00:00Z");
const DAY = 86_400_000;
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

describe("the activity wrapper's rotation context", () => {
  it("takes rotationId, keyId, kind and the phase an activity works towards from its input", () => {
    expect(activityTelemetryContext("createKeyVersion", { rotationId: "r1", keyId: "kek:demo-vault/k", at: NOW.toISOString() })).toEqual({
      rotationId: "r1", keyId: "kek:demo-vault/k", kind: "kek", phase: "versionCreated",
    });
    expect(activityTelemetryContext("countReferences", { kekKeyId: "kek:demo-vault/k", keepVersion: "2" })).toEqual({ keyId: "kek:demo-vault/k", kind: "kek", phase: "rewrapping" });
    expect(activityTelemetryContext("rotateTenantDek", { rotationId: "r2", tenant: "contoso" })).toMatchObject({ keyId: "dek:contoso", kind: "dek" });
  });

  it("takes recordStep's phase and the key state its entry implies, and disableVersion's target state", () => {
    expect(activityTelemetryContext("recordStep", { rotationId: "r1", keyId: "secret:demo-vault/s", type: "Promoted", phase: "promoted" })).toMatchObject({ phase: "promoted", keyState: "primary", kind: "secret" });
    expect(activityTelemetryContext("disableVersion", { rotationId: "r1", keyId: "kek:demo-vault/k", version: "1", state: "revoked" })).toMatchObject({ phase: "revoked", keyState: "revoked" });
  });

  it("copies nothing else of the input, and ignores values that are not short strings", () => {
    const ctx = activityTelemetryContext("recordStep", { rotationId: "r".repeat(600), keyId: 7, plaintext: "c2VjcmV0", details: { k: "AAAA" } });
    expect(ctx).toEqual({});
    expect(activityTelemetryContext("sealLedger", undefined)).toEqual({ phase: "completed" });
  });
});

describe("key health from the timer's plan", () => {
  const key = (versions: ManagedKey["versions"], kind: ManagedKey["kind"] = "kek"): ManagedKey => ({ keyId: kind === "dek" ? "dek:contoso" : `${kind}:demo-vault/k`, kind, tenant: "t", versions });
  const plan = (p: Partial<PlanItem>): PlanItem => ({ keyId: "kek:demo-vault/k", kind: "kek", tenant: "t", reason: "schedule", dueNow: false, withinHorizon: false, warnings: [], ...p });

  it("reports days to expiry, and a rotation due only when one is scheduled before the expiry", () => {
    expect(keyHealthOf(key([]), plan({ expiresAt: at(10 * DAY), dueAt: at(3 * DAY), slot: at(3 * DAY) }), NOW)).toMatchObject({ daysToExpiry: 10, rotationDue: true, overdue: false });
    // Frozen past the expiry: nothing will rotate it in time.
    expect(keyHealthOf(key([]), plan({ reason: "frozen", expiresAt: at(5 * DAY), dueAt: at(20 * DAY), slot: at(-DAY) }), NOW)).toMatchObject({ rotationDue: false, overdue: true });
  });

  it("calls a key overdue when its slot passed without a start, or it has been due longer than the grace", () => {
    expect(keyHealthOf(key([]), plan({ dueNow: true, dueAt: at(-60_000), slot: at(-60_000) }), NOW).overdue).toBe(false);
    expect(keyHealthOf(key([]), plan({ dueNow: true, dueAt: at(-OVERDUE_GRACE_MS - 1), slot: at(-OVERDUE_GRACE_MS - 1) }), NOW).overdue).toBe(true);
    expect(keyHealthOf(key([]), plan({ reason: "overdue", dueNow: true, dueAt: at(0), slot: "initial" }), NOW).overdue).toBe(true);
  });

  it("ages the oldest secondary from when a newer version superseded it, 0 when none is left, and skips tenants' DEKs", () => {
    const versions: ManagedKey["versions"] = [
      { version: "1", state: "secondary", createdAt: at(-90 * DAY) },
      { version: "2", state: "secondary", createdAt: at(-30 * DAY) },
      { version: "3", state: "primary", createdAt: at(-DAY) },
    ];
    expect(keyHealthOf(key(versions), plan({}), NOW).oldestSecondaryAgeSeconds).toBe(30 * 86_400);
    expect(keyHealthOf(key(versions.map((v) => (v.state === "secondary" ? { ...v, state: "retired" as const } : v))), plan({}), NOW).oldestSecondaryAgeSeconds).toBe(0);
    expect(keyHealthOf(key(versions, "dek"), plan({}), NOW)).not.toHaveProperty("oldestSecondaryAgeSeconds");
  });
});

describe("Key Vault throttling", () => {
  let reader: PeriodicExportingMetricReader;
  let exporter: InMemoryMetricExporter;
  let provider: MeterProvider;
  beforeEach(() => {
    exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    provider = new MeterProvider({ readers: [reader] });
    installTelemetryProviders({ meterProvider: provider });
  });
  afterEach(async () => {
    await resetTelemetry();
    await provider.shutdown();
  });

  const restError = (status: number, url: string) => {
    const request = createPipelineRequest({ url, headers: createHttpHeaders() });
    return new RestError("Throttled", { statusCode: status, request, response: { status, headers: createHttpHeaders(), request } });
  };

  it("counts each 429 by vault and operation, and nothing else", async () => {
    expect(() => translateKeyVaultError(restError(429, "https://127.0.0.1:8443/keys/k/1/unwrapkey"), "unwrap with k/1", "demo-vault")).toThrow(/Throttled|429/);
    expect(() => translateKeyVaultError(restError(429, "https://prod-kv.vault.azure.net/keys/k"), "get key k")).toThrow();
    expect(() => translateKeyVaultError(restError(404, "https://prod-kv.vault.azure.net/keys/k"), "get key k")).toThrow();
    await reader.forceFlush();
    const points = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)).filter((m) => m.descriptor.name === METRIC_NAMES.keyVaultThrottled).flatMap((m) => [...m.dataPoints] as { attributes: unknown; value: unknown }[]);
    expect(points.map((p) => [p.attributes, p.value])).toEqual(expect.arrayContaining([
      [{ vault: "demo-vault", operation: "unwrap" }, 1],
      [{ vault: "prod-kv", operation: "get" }, 1],
    ]));
    expect(points).toHaveLength(2);
  });
});
