// Every port (lib/ports.ts PORTS) has one contract suite, and some test file runs that suite against
// the memory adapter and against the real one. A port added without both runs fails here.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PORTS, type PortName } from "../../lib/ports";

const ROOT = path.resolve(__dirname, "..", "..");

/** Each port's suite: the module that defines it and the function that runs it against one adapter. */
export const SUITES: Record<PortName, { module: string; fn: string }> = {
  keyVault: { module: "test/contract/keyVaultContract.ts", fn: "keyVaultContract" },
  inventory: { module: "test/contract/inventoryContract.ts", fn: "inventoryContract" },
  deks: { module: "test/contract/deksContract.ts", fn: "deksContract" },
  policies: { module: "test/contract/policiesContract.ts", fn: "policiesContract" },
  jwks: { module: "test/contract/jwksContract.ts", fn: "jwksContract" },
  approvals: { module: "test/contract/approvalsContract.ts", fn: "approvalsContract" },
  fences: { module: "test/contract/fencesContract.ts", fn: "fencesContract" },
  ledger: { module: "test/unit/ledger/ledgerContract.ts", fn: "ledgerContract" },
  events: { module: "test/integration/events/publisherContract.ts", fn: "describePublisherContract" },
  clock: { module: "test/contract/clockContract.ts", fn: "clockContract" },
};

/** What a run's first argument says it runs against: our suites pass the kind ("memory" | "real");
 * the older ones an adapter label. A real adapter is the production one against the real service
 * or its emulator. */
export function adapterKind(label: string): "memory" | "real" | undefined {
  if (/^memory\b/i.test(label)) return "memory";
  if (label === "real" || /Azurite|Table Storage|Service Bus|Key Vault peer/i.test(label)) return "real";
  return undefined;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

/** The kinds of adapter each suite function is called with, over every test file. */
export function runsOf(fn: string, files: { path: string; text: string }[]): { kind: "memory" | "real" | undefined; label: string; file: string }[] {
  const call = new RegExp(`\\b${fn}\\(\\s*"([^"]*)"`, "g");
  return files.flatMap((f) => [...f.text.matchAll(call)].map((m) => ({ kind: adapterKind(m[1]!), label: m[1]!, file: path.relative(ROOT, f.path) })));
}

/** Source without comments: a run commented out is no run. */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
const files = testFiles(path.join(ROOT, "test")).map((p) => ({ path: p, text: code(readFileSync(p, "utf8")) }));

describe("every port has a contract suite run against its memory and its real adapter", () => {
  it("names a suite for every port in PORTS, and only for those", () => {
    expect(Object.keys(SUITES).sort()).toEqual([...PORTS].sort());
  });

  it.each(PORTS.map((p) => [p]))("%s: the suite module exports its function", async (port) => {
    const { module, fn } = SUITES[port];
    expect(existsSync(path.join(ROOT, module)), module).toBe(true);
    const mod = (await import(path.join(ROOT, module))) as Record<string, unknown>;
    expect(typeof mod[fn], `${module} exports ${fn}`).toBe("function");
  });

  it.each(PORTS.map((p) => [p]))("%s: some test file runs the suite against the memory adapter and against the real one", (port) => {
    const runs = runsOf(SUITES[port].fn, files);
    expect(runs.filter((r) => r.kind === undefined), "runs whose adapter kind cannot be told").toEqual([]);
    expect(runs.some((r) => r.kind === "memory"), `${SUITES[port].fn} runs: ${JSON.stringify(runs)}`).toBe(true);
    expect(runs.some((r) => r.kind === "real"), `${SUITES[port].fn} runs: ${JSON.stringify(runs)}`).toBe(true);
  });

  it("tells a run that only reaches a memory adapter from one that reaches the real service", () => {
    const fake = [{ path: path.join(ROOT, "test/x.test.ts"), text: code('fooContract("memory", "M", f);\nfooContract("memory", "N", g);\n// fooContract("real", "R", h);') }];
    expect(runsOf("fooContract", fake).map((r) => r.kind)).toEqual(["memory", "memory"]);
    expect(runsOf("fooContract", fake).some((r) => r.kind === "real")).toBe(false);
    expect(adapterKind("Table Storage (Azurite)")).toBe("real");
    expect(adapterKind("Service Bus")).toBe("real");
    expect(adapterKind("somewhere")).toBeUndefined();
  });
});
