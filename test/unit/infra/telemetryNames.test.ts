import { describe, expect, it } from "vitest";
import { LOG_FIELDS, METRIC_ATTRIBUTES, METRIC_NAMES } from "../../../lib/telemetry/names";
import { blockAfter, read } from "./bicep";

const metricNames = new Set<string>(Object.values(METRIC_NAMES));
const metricAttributes = new Set<string>(Object.values(METRIC_ATTRIBUTES));
const logFields = new Set<string>(LOG_FIELDS);

/** Every "keyrotor.x.y" string a query names. */
function namedMetrics(kql: string): string[] {
  return [...kql.matchAll(/"(keyrotor\.[a-z_.]+)"/g)].map((m) => m[1]!);
}
function dimensions(kql: string): string[] {
  return [...kql.matchAll(/customDimensions\.(\w+)/g)].map((m) => m[1]!);
}
function logFieldRefs(kql: string): string[] {
  return [...kql.matchAll(/\bf\.(\w+)/g)].map((m) => m[1]!);
}

const alerts = read("infra/modules/alerts.bicep");
const alertRules = blockAfter(alerts, "var rules =");
const alertQueries = [...alertRules.matchAll(/name:\s*'([\w-]+)'[\s\S]*?query:\s*'''([\s\S]*?)'''/g)].map((m) => ({ name: m[1]!, kql: m[2]! }));
const workbook = JSON.parse(read("infra/monitoring/workbook.json")) as { items: { type: number; name?: string; content: { query?: string } }[] };
const workbookQueries = workbook.items.filter((i) => i.type === 3).map((i) => ({ name: i.name ?? "", kql: i.content.query ?? "" }));

describe("alert rules", () => {
  it("cover the conditions on-call must hear about", () => {
    expect(alertQueries.map((a) => a.name).sort()).toEqual(
      ["expiry-without-rotation", "key-overdue", "ledger-not-verified", "lock-past-lease", "notifications-failing", "rotation-failed",
        "envelope-non-primary-encrypt", "keyvault-old-version-use"].sort(),
    );
  });

  it("query only metric names and dimensions lib/telemetry emits", () => {
    // The Key Vault log rule reads the vault's diagnostic logs: keyVaultLogQueries.test.ts holds it.
    for (const a of alertQueries.filter((q) => q.kql.includes("customMetrics"))) {
      const names = namedMetrics(a.kql);
      expect(names.length, a.name).toBeGreaterThan(0);
      for (const n of names) expect(metricNames, `${a.name}: ${n}`).toContain(n);
      for (const d of dimensions(a.kql)) expect(metricAttributes, `${a.name}: customDimensions.${d}`).toContain(d);
    }
  });

  it("split by dimensions the query projects, so each key or kind alerts on its own", () => {
    for (const m of alertRules.matchAll(/dimensions:\s*\[([^\]]*)\]\s*\n\s*query:\s*'''([\s\S]*?)'''/g)) {
      for (const d of [...m[1]!.matchAll(/'(\w+)'/g)].map((x) => x[1]!)) expect(m[2]).toMatch(new RegExp(`\\b${d}\\b`));
    }
  });

  it("the expiry alert looks 7 days ahead and only at keys with no rotation due", () => {
    const q = alertQueries.find((a) => a.name === "expiry-without-rotation")!.kql;
    expect(q).toContain(`"${METRIC_NAMES.daysToExpiry}"`);
    expect(q).toMatch(/value < 7 and rotationDue == "false"/);
  });
});

describe("the workbook", () => {
  it("has the four sections: inventory, upcoming rotations, rotations in flight, recent failures", () => {
    const md = workbook.items.filter((i) => i.type === 1).map((i) => JSON.stringify(i.content));
    for (const h of ["## Inventory", "## Upcoming rotations", "## Rotations in flight", "## Recent failures"]) expect(md.join("\n")).toContain(h);
    expect(workbookQueries.map((q) => q.name)).toEqual(expect.arrayContaining(["inventory", "upcoming", "in-flight", "recent-errors"]));
  });

  it("queries only metric names, dimensions and log fields lib/telemetry emits", () => {
    for (const q of workbookQueries) {
      for (const n of namedMetrics(q.kql)) expect(metricNames, `${q.name}: ${n}`).toContain(n);
      for (const d of dimensions(q.kql)) expect(metricAttributes, `${q.name}: customDimensions.${d}`).toContain(d);
      for (const f of logFieldRefs(q.kql)) expect(logFields, `${q.name}: f.${f}`).toContain(f);
    }
  });

  it("shows rewrap progress from the rewrapped/total log fields of rotations not yet terminal", () => {
    const q = workbookQueries.find((x) => x.name === "in-flight")!.kql;
    expect(logFieldRefs(q)).toEqual(expect.arrayContaining(["rotationId", "keyId", "phase", "rewrapped", "total"]));
    expect(q).toMatch(/phase !in \("completed", "failed", "aborted"\)/);
  });

  it("is loaded by the workbook module", () => {
    expect(read("infra/modules/workbook.bicep")).toContain("loadTextContent('../monitoring/workbook.json')");
  });
});
