// Old-version use, measured: lib/envelope counts encrypts and decrypts per tenant, DEK version and
// KEK version as OpenTelemetry metrics (a real SDK MeterProvider), and a consumer that encrypts
// under a DEK version that is no longer its tenant's primary raises the alert.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type MetricData } from "@opentelemetry/sdk-metrics";
import { createWrappedDek, dekIdFor, DekResolver, Envelope, MemoryKek, type DekRecord, type DekSource } from "../../../lib/envelope";
import { EnvelopeUsage, type NonPrimaryEncrypt } from "../../../lib/envelope/usage";
import { METRIC_NAMES } from "../../../lib/telemetry/names";

const KEK = "kek:demo-vault/tenant-kek";

class MapDeks implements DekSource {
  readonly rows = new Map<string, DekRecord>();
  primary = new Map<string, number>();
  async get(tenant: string, dekId: string) {
    return this.rows.get(`${tenant}/${dekId}`);
  }
  async getPrimary(tenant: string) {
    const v = this.primary.get(tenant);
    return v === undefined ? undefined : this.rows.get(`${tenant}/${dekIdFor(v)}`);
  }
  add(r: DekRecord) {
    const old = this.primary.get(r.tenant);
    if (old !== undefined) this.rows.set(`${r.tenant}/${dekIdFor(old)}`, { ...this.rows.get(`${r.tenant}/${dekIdFor(old)}`)!, state: "secondary" });
    this.primary.set(r.tenant, r.dekVersion);
    this.rows.set(`${r.tenant}/${r.dekId}`, r);
  }
}

let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;

beforeEach(() => {
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
});
afterEach(async () => {
  await provider.shutdown();
});

async function collect(name: string): Promise<DataPoint<unknown>[]> {
  await reader.forceFlush();
  let md: MetricData | undefined;
  for (const rm of exporter.getMetrics()) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) md = m;
  return md?.dataPoints ?? [];
}

async function setup(opts: { primaryTtlMs: number; checkEveryMs?: number }) {
  const kek = new MemoryKek();
  const kekVersion = kek.addVersion(KEK);
  const deks = new MapDeks();
  let clock = 0;
  const alerts: NonPrimaryEncrypt[] = [];
  const usage = new EnvelopeUsage({
    meter: provider.getMeter("keyrotor"), now: () => clock, checkEveryMs: opts.checkEveryMs ?? 0,
    primaryOf: async (t) => (await deks.getPrimary(t))?.dekVersion,
    onNonPrimaryEncrypt: (a) => void alerts.push(a),
  });
  const envelope = new Envelope(new DekResolver(deks, kek, { now: () => clock, primaryTtlMs: opts.primaryTtlMs }), usage);
  const rotate = async (tenant: string, dekVersion: number) => deks.add(await createWrappedDek({ tenant, dekVersion, kekKeyId: KEK, kekVersion }, kek, new Date(0)));
  return { kekVersion, envelope, usage, rotate, alerts, tick: (ms: number) => (clock += ms) };
}

describe("envelope usage metrics", () => {
  it("count encrypts and decrypts per tenant, DEK version and KEK version: use of the old DEK version and of the new one are separate series", async () => {
    const { envelope, rotate, kekVersion } = await setup({ primaryTtlMs: 0 });
    await rotate("acme", 1);
    const old = await envelope.encrypt("acme", Buffer.from("a"));
    await envelope.decrypt(old);
    await rotate("acme", 2);
    const fresh = await envelope.encrypt("acme", Buffer.from("b"));
    await envelope.decrypt(fresh);
    await envelope.decrypt(fresh);
    const byKey = (await collect(METRIC_NAMES.envelopeOperations)).map((p) => [p.attributes, p.value]);
    expect(byKey).toEqual(expect.arrayContaining([
      [{ operation: "encrypt", tenant: "acme", dekVersion: "1", keyId: KEK, kekVersion }, 1],
      [{ operation: "decrypt", tenant: "acme", dekVersion: "1", keyId: KEK, kekVersion }, 1],
      [{ operation: "encrypt", tenant: "acme", dekVersion: "2", keyId: KEK, kekVersion }, 1],
      [{ operation: "decrypt", tenant: "acme", dekVersion: "2", keyId: KEK, kekVersion }, 2],
    ]));
  });

  it("a forged ciphertext is not counted as use", async () => {
    const { envelope, rotate } = await setup({ primaryTtlMs: 0 });
    await rotate("acme", 1);
    const c = await envelope.encrypt("acme", Buffer.from("a"));
    await expect(envelope.decrypt(`${c.slice(0, -4)}AAAA`)).rejects.toThrow(/does not authenticate/);
    const decrypts = (await collect(METRIC_NAMES.envelopeOperations)).filter((p) => p.attributes.operation === "decrypt");
    expect(decrypts).toEqual([]);
  });

  it("a consumer whose cached primary outlives a rotation encrypts under a non-primary version: counted and alerted", async () => {
    // A long primary cache: the consumer keeps encrypting under v1 after v2 became primary.
    const { envelope, usage, rotate, alerts } = await setup({ primaryTtlMs: 3_600_000 });
    await rotate("acme", 1);
    await envelope.encrypt("acme", Buffer.from("a"));
    await usage.settled();
    expect(alerts).toEqual([]);
    await rotate("acme", 2);
    const c = await envelope.encrypt("acme", Buffer.from("b"));
    await usage.settled();
    expect(c.startsWith("kr1.acme.1.")).toBe(true);
    expect(alerts).toEqual([{ tenant: "acme", dekVersion: 1, primaryVersion: 2 }]);
    expect((await collect(METRIC_NAMES.envelopeNonPrimaryEncrypts)).map((p) => [p.attributes, p.value])).toEqual([[{ tenant: "acme", dekVersion: "1" }, 1]]);
  });

  it("checks a tenant's primary at most once per checkEveryMs, and a failed check never breaks encryption", async () => {
    const kek = new MemoryKek();
    const kekVersion = kek.addVersion(KEK);
    const deks = new MapDeks();
    deks.add(await createWrappedDek({ tenant: "acme", dekVersion: 1, kekKeyId: KEK, kekVersion }, kek, new Date(0)));
    let reads = 0;
    const usage = new EnvelopeUsage({ meter: provider.getMeter("keyrotor"), now: () => 0, checkEveryMs: 60_000, primaryOf: async () => { reads++; throw new Error("table unavailable"); } });
    const envelope = new Envelope(new DekResolver(deks, kek), usage);
    await envelope.encrypt("acme", Buffer.from("a"));
    await usage.settled();
    expect([reads, usage.checkErrors]).toEqual([1, 1]);
    // A failed check is tried again on the next encrypt; a successful one would wait checkEveryMs.
    await envelope.encrypt("acme", Buffer.from("b"));
    await usage.settled();
    expect(reads).toBe(2);
  });
});
