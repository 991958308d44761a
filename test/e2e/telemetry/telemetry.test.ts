// Telemetry of a real rotation: the app on the dev host (durable history in Azurite, the Key Vault
// and Service Bus peers through the real SDK clients), with in-memory exporters registered the way
// initTelemetry registers Azure Monitor's. What on-call will query must be there, and no key
// material may be.
import "../../../dev/host"; // first: it provides @azure/functions-core, as the worker does
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type MetricData } from "@opentelemetry/sdk-metrics";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { DURABLE, LOCK_OPS } from "../../../lib/orchestration/names";
import { startRotation } from "../../../lib/orchestration/start";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { installTelemetryProviders, METRIC_NAMES, resetTelemetry, setDefaultLogSink, SPAN_ATTRIBUTES as S } from "../../../lib/telemetry";
import { encodings, seedKekWithDeks, startPeers, startStack, VAULT, type Peers, type Stack } from "../rotation/stack";
import { DekResolver, Envelope } from "../../../lib/envelope";
import { EnvelopeUsage } from "../../../lib/envelope/usage";
import { kekPortOver } from "../../../lib/validation/activity";
import { AUDITOR, seedKey, startApiHost, T0, type ApiHost } from "../api/support";

let spans: InMemorySpanExporter;
let metricsOut: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let tracerProvider: BasicTracerProvider;
let logLines: string[];

beforeAll(() => {
  spans = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  metricsOut = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: the test collects explicitly with forceFlush, never by waiting.
  reader = new PeriodicExportingMetricReader({ exporter: metricsOut, exportIntervalMillis: 3_600_000 });
  meterProvider = new MeterProvider({ readers: [reader] });
  installTelemetryProviders({ tracerProvider, meterProvider });
  logLines = [];
  setDefaultLogSink((_level, line) => logLines.push(line));
});
afterAll(async () => {
  setDefaultLogSink(undefined);
  await resetTelemetry();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

async function collect(): Promise<Map<string, MetricData>> {
  metricsOut.reset();
  await reader.forceFlush();
  const byName = new Map<string, MetricData>();
  for (const rm of metricsOut.getMetrics()) for (const sm of rm.scopeMetrics) for (const md of sm.metrics) byName.set(md.descriptor.name, md);
  return byName;
}
const points = (md: MetricData | undefined): DataPoint<unknown>[] => md?.dataPoints ?? [];
const activitySpans = (): ReadableSpan[] => spans.getFinishedSpans().filter((s) => s.name.startsWith("keyrotor.activity."));

describe("telemetry of a KEK rotation on the dev host", () => {
  let peers: Peers;
  let stack: Stack | undefined;
  beforeAll(async () => {
    peers = await startPeers();
  });
  afterAll(async () => {
    await stack?.stop();
    await peers.stop();
  });

  it("traces every activity with rotationId, keyId and kind, counts the rotation by kind and trigger, and leaks no key material", async () => {
    stack = await startStack(peers);
    const seeded = await seedKekWithDeks(stack, peers, 2, 20);
    const rotationId = `${seeded.keyId}@manual:telemetry`;
    const started = await startRotation(stack.host.client, { rotationId, keyId: seeded.keyId, trigger: "manual", actor: "alice", batchSize: 10 });
    const out = (await stack.host.client.waitForCompletion(started.instanceId, { timeoutMs: 60_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");

    // One span per activity execution, each about this key.
    const mine = activitySpans().filter((s) => s.attributes[S.keyId] === seeded.keyId);
    const names = new Set(mine.map((s) => s.name.slice("keyrotor.activity.".length)));
    for (const a of [DURABLE.activities.recordStep, DURABLE.activities.loadRotationContext, DURABLE.activities.createKeyVersion, DURABLE.activities.promoteVersion,
      DURABLE.activities.countReferences, DURABLE.activities.rewrapRange]) expect(names, a).toContain(a);
    for (const s of mine) expect(s.attributes[S.kind], s.name).toBe("kek");
    // Activities whose input names the rotation carry its id (and the phase they work towards).
    for (const name of ["recordStep", "createKeyVersion", "promoteVersion"]) {
      const withId = mine.filter((s) => s.name === `keyrotor.activity.${name}`);
      expect(withId.length, name).toBeGreaterThan(0);
      for (const s of withId) {
        expect(s.attributes[S.rotationId], name).toBe(rotationId);
        expect(typeof s.attributes[S.phase], name).toBe("string");
      }
    }
    expect(mine.filter((s) => s.name === "keyrotor.activity.rewrapRange" && s.attributes[S.rotationId] === rotationId).length).toBeGreaterThan(0);
    // The whole rotation as one span, from LockAcquired to Completed.
    const rotation = spans.getFinishedSpans().filter((s) => s.name === "keyrotor.rotation" && s.attributes[S.rotationId] === rotationId);
    expect(rotation).toHaveLength(1);
    expect(rotation[0]?.attributes).toMatchObject({ [S.keyId]: seeded.keyId, [S.kind]: "kek", "keyrotor.trigger": "manual", "keyrotor.outcome": "completed" });

    const m = await collect();
    expect(points(m.get(METRIC_NAMES.rotationsStarted)).map((p) => [p.attributes, p.value])).toContainEqual([{ kind: "kek", trigger: "manual" }, 1]);
    expect(points(m.get(METRIC_NAMES.rotationsCompleted)).map((p) => [p.attributes, p.value])).toContainEqual([{ kind: "kek", trigger: "manual" }, 1]);
    expect(points(m.get(METRIC_NAMES.rotationsFailed))).toHaveLength(0);
    const duration = points(m.get(METRIC_NAMES.rotationDuration)).find((p) => p.attributes.outcome === "completed");
    expect(duration?.attributes).toEqual({ kind: "kek", trigger: "manual", outcome: "completed" });
    expect((duration?.value as { count: number }).count).toBe(1);
    expect(points(m.get(METRIC_NAMES.rewrappedDeks))[0]?.value).toBe(40);
    expect((points(m.get(METRIC_NAMES.rewrapRate))[0]?.value as { count: number } | undefined)?.count).toBeGreaterThan(0);

    // A consumer through lib/envelope after the rotation: its use is counted per tenant, DEK version
    // and the KEK version now wrapping that DEK (the new one), on the providers initTelemetry installs.
    const usage = new EnvelopeUsage({ primaryOf: async (t) => (await stack!.dekStore.getPrimary(t))?.dekVersion });
    const envelope = new Envelope(new DekResolver(stack.dekStore, kekPortOver(stack.deps.vault, VAULT, seeded.name)), usage);
    await envelope.decrypt(await envelope.encrypt("tenant-0", Buffer.from("order #1")));
    await usage.settled();
    const used = points((await collect()).get(METRIC_NAMES.envelopeOperations)).map((p) => [p.attributes, p.value]);
    for (const operation of ["encrypt", "decrypt"]) {
      expect(used).toContainEqual([{ operation, tenant: "tenant-0", dekVersion: "20", keyId: seeded.keyId, kekVersion: out.versionAfter }, 1]);
    }

    // Structured lines carry the rotation context; the workbook's in-flight query finds the
    // rotation's running totals in the RewrapProgress step's line.
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((f) => f.rotationId === rotationId);
    expect(lines.length).toBeGreaterThan(0);
    for (const f of lines) expect(f).toMatchObject({ keyId: seeded.keyId, kind: "kek", phase: expect.any(String) });
    expect(lines).toContainEqual(expect.objectContaining({ event: "RewrapProgress", rewrapped: 40, total: 40 }));
    expect(lines).toContainEqual(expect.objectContaining({ event: "RotationCompleted", phase: "completed", keyState: "primary" }));

    // No plaintext DEK in any span attribute, status or log line.
    const text = JSON.stringify(spans.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, st: s.status, e: s.events }))) + logLines.join("\n");
    for (const perTenant of seeded.plaintexts.values()) {
      for (const plain of perTenant.values()) for (const enc of encodings(plain)) expect(text.includes(enc)).toBe(false);
    }
  }, 90_000);
});

describe("telemetry of the policy timer and the ledger check", () => {
  let h: ApiHost | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it("publishes each key's health from the timer's plan, the locks held past their lease, and the ledger's verification", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D" }, undefined);
    // Rotated at T0, expires in 60 days, the version it replaced still secondary since a day ago.
    const expires = new Date(Date.parse(T0) + 60 * 86_400_000).toISOString();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", {
      policyId: "monthly", lastRotatedAt: T0, primaryVersion: "v2",
      versions: [
        { version: "v1", state: "secondary", createdAt: new Date(Date.parse(T0) - 40 * 86_400_000).toISOString() },
        { version: "v2", state: "primary", createdAt: new Date(Date.parse(T0) - 86_400_000).toISOString(), expiresAt: expires },
      ],
    });
    // A rotation that died holding the lock: its lease ended an hour before T0.
    await h.host.client.signalEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) }, LOCK_OPS.tryAcquire, {
      owner: `${keyId}@manual:dead`, now: "2026-02-28T22:00:00Z", leaseUntil: "2026-02-28T23:00:00Z",
    });
    await h.host.idle();

    await h.host.fireTimer("policyTimer");
    await h.host.idle();
    expect((await h.call("GET", "/api/ledger/verify", { as: AUDITOR })).json().ok).toBe(true);

    const m = await collect();
    const expiry = points(m.get(METRIC_NAMES.daysToExpiry)).find((p) => p.attributes.keyId === keyId);
    expect(expiry?.attributes).toEqual({ keyId, kind: "kek", rotationDue: "true" });
    expect(expiry?.value).toBeCloseTo(60, 5);
    expect(points(m.get(METRIC_NAMES.keysOverdue))[0]?.value).toBe(0);
    expect(points(m.get(METRIC_NAMES.secondaryVersionAge)).find((p) => p.attributes.keyId === keyId)?.value).toBe(86_400);
    expect(points(m.get(METRIC_NAMES.lockPastLease)).map((p) => [p.attributes, p.value])).toEqual([[{ keyId }, 3600]]);
    expect(points(m.get(METRIC_NAMES.ledgerVerified))[0]?.value).toBe(1);
  }, 60_000);
});
