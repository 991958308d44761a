import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader,
  type DataPoint, type MetricData,
} from "@opentelemetry/sdk-metrics";
import { createRotationMetrics, METRIC_NAMES, type RotationMetrics } from "../../../lib/telemetry";

let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;
let m: RotationMetrics;

beforeEach(() => {
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: the test collects explicitly with forceFlush, never by waiting.
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
  m = createRotationMetrics(provider.getMeter("keyrotor"));
});
afterEach(async () => {
  await provider.shutdown();
});

async function collect(): Promise<Map<string, MetricData>> {
  await reader.forceFlush();
  const byName = new Map<string, MetricData>();
  for (const rm of exporter.getMetrics()) for (const sm of rm.scopeMetrics) for (const md of sm.metrics) byName.set(md.descriptor.name, md);
  return byName;
}
function points(md: MetricData | undefined): DataPoint<unknown>[] {
  return md?.dataPoints ?? [];
}

describe("rotation metrics", () => {
  it("count rotations started, completed and failed by kind and trigger", async () => {
    m.rotationStarted({ kind: "kek", trigger: "schedule" });
    m.rotationStarted({ kind: "kek", trigger: "schedule" });
    m.rotationStarted({ kind: "secret", trigger: "expiry-event" });
    m.rotationCompleted({ kind: "kek", trigger: "schedule" }, 42);
    m.rotationFailed({ kind: "secret", trigger: "expiry-event", errorCode: "VaultForbidden" }, 3);
    const got = await collect();

    const started = points(got.get(METRIC_NAMES.rotationsStarted));
    expect(started.map((p) => [p.attributes, p.value])).toEqual(
      expect.arrayContaining([
        [{ kind: "kek", trigger: "schedule" }, 2],
        [{ kind: "secret", trigger: "expiry-event" }, 1],
      ]),
    );
    expect(points(got.get(METRIC_NAMES.rotationsCompleted)).map((p) => [p.attributes, p.value])).toEqual([[{ kind: "kek", trigger: "schedule" }, 1]]);
    expect(points(got.get(METRIC_NAMES.rotationsFailed)).map((p) => [p.attributes, p.value])).toEqual([
      [{ kind: "secret", trigger: "expiry-event", errorCode: "VaultForbidden" }, 1],
    ]);
  });

  it("record rotation duration as a histogram with the outcome", async () => {
    m.rotationCompleted({ kind: "dek", trigger: "manual" }, 12.5);
    m.rotationFailed({ kind: "dek", trigger: "manual" }, 2);
    const duration = (await collect()).get(METRIC_NAMES.rotationDuration);
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const byOutcome = Object.fromEntries(points(duration).map((p) => [String(p.attributes.outcome), (p.value as { sum: number; count: number })]));
    expect(byOutcome.completed).toMatchObject({ sum: 12.5, count: 1 });
    expect(byOutcome.failed).toMatchObject({ sum: 2, count: 1 });
  });

  it("count rewrapped DEKs and record each batch's DEKs per second", async () => {
    m.rewrapBatch("kek", 500, 0.25);
    m.rewrapBatch("kek", 300, 0);
    const got = await collect();
    expect(points(got.get(METRIC_NAMES.rewrappedDeks))[0]?.value).toBe(800);
    // A zero-length batch counts its DEKs but adds no rate sample (no division by zero).
    expect(points(got.get(METRIC_NAMES.rewrapRate))[0]?.value).toMatchObject({ sum: 2000, count: 1 });
  });

  it("count Key Vault 429s by vault and operation, and failed notifications by event type", async () => {
    m.keyVaultThrottled("demo-vault", "unwrapKey");
    m.notificationFailed("RotationFailed");
    const got = await collect();
    expect(points(got.get(METRIC_NAMES.keyVaultThrottled))[0]?.attributes).toEqual({ vault: "demo-vault", operation: "unwrapKey" });
    expect(points(got.get(METRIC_NAMES.notificationsFailed))[0]?.attributes).toEqual({ eventType: "RotationFailed" });
  });

  it("observe keys overdue, days to expiry per key with rotationDue, and oldest secondary age from the latest snapshot", async () => {
    m.setKeyHealth([
      { keyId: "kek:demo-vault/tenant-kek", kind: "kek", daysToExpiry: 5.5, rotationDue: false, overdue: false, oldestSecondaryAgeSeconds: 3600 },
      { keyId: "secret:demo-vault/webhook", kind: "secret", daysToExpiry: 40, rotationDue: true, overdue: true },
      { keyId: "dek:contoso", kind: "dek", rotationDue: false, overdue: true },
    ]);
    let got = await collect();
    expect(points(got.get(METRIC_NAMES.keysOverdue))[0]?.value).toBe(2);
    expect(points(got.get(METRIC_NAMES.daysToExpiry)).map((p) => [p.attributes, p.value])).toEqual(
      expect.arrayContaining([
        [{ keyId: "kek:demo-vault/tenant-kek", kind: "kek", rotationDue: "false" }, 5.5],
        [{ keyId: "secret:demo-vault/webhook", kind: "secret", rotationDue: "true" }, 40],
      ]),
    );
    expect(points(got.get(METRIC_NAMES.daysToExpiry))).toHaveLength(2);
    expect(points(got.get(METRIC_NAMES.secondaryVersionAge)).map((p) => [p.attributes, p.value])).toEqual([
      [{ keyId: "kek:demo-vault/tenant-kek", kind: "kek" }, 3600],
    ]);

    // The rewrap finished: nothing references the old version any more.
    m.setKeyHealth([{ keyId: "kek:demo-vault/tenant-kek", kind: "kek", daysToExpiry: 365, rotationDue: false, overdue: false, oldestSecondaryAgeSeconds: 0 }]);
    exporter.reset();
    got = await collect();
    expect(points(got.get(METRIC_NAMES.keysOverdue))[0]?.value).toBe(0);
    expect(points(got.get(METRIC_NAMES.secondaryVersionAge)).find((p) => p.attributes.keyId === "kek:demo-vault/tenant-kek")?.value).toBe(0);
  });

  it("observe ledger verification as 1 or 0, and nothing before the first verification", async () => {
    expect(points((await collect()).get(METRIC_NAMES.ledgerVerified))).toHaveLength(0);
    m.setLedgerVerified(false);
    exporter.reset();
    expect(points((await collect()).get(METRIC_NAMES.ledgerVerified))[0]?.value).toBe(0);
    m.setLedgerVerified(true);
    exporter.reset();
    expect(points((await collect()).get(METRIC_NAMES.ledgerVerified))[0]?.value).toBe(1);
  });

  it("observe locks held past their lease per key", async () => {
    m.setLocksPastLease([{ keyId: "kek:demo-vault/tenant-kek", secondsPastLease: 900 }]);
    const p = points((await collect()).get(METRIC_NAMES.lockPastLease));
    expect(p.map((x) => [x.attributes, x.value])).toEqual([[{ keyId: "kek:demo-vault/tenant-kek" }, 900]]);
  });

  it("never put a rotationId on a metric (one time series per rotation would explode cardinality)", async () => {
    m.rotationStarted({ kind: "kek", trigger: "manual" });
    m.rewrapBatch("kek", 10, 1);
    m.setKeyHealth([{ keyId: "kek:v/k", kind: "kek", daysToExpiry: 1, rotationDue: true, overdue: false }]);
    for (const md of (await collect()).values()) {
      for (const p of points(md)) expect(Object.keys(p.attributes)).not.toContain("rotationId");
    }
  });
});
