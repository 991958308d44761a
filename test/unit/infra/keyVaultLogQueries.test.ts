// The KQL that reads Key Vault's own diagnostic logs (operations per key version), held to the
// column lists of the two tables those logs land in, vendored from Microsoft's table reference
// (test/fixtures/keyVaultLogs/schema.json, with its source URLs), the way telemetryNames.test.ts
// holds the App Insights queries to lib/telemetry's names.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { blockAfter, read } from "./bicep";

interface Schema { tables: Record<string, { source: string; columns: { name: string; type: string }[] }> }
const schema = JSON.parse(readFileSync(path.resolve(__dirname, "../../fixtures/keyVaultLogs/schema.json"), "utf8")) as Schema;
const TABLES = Object.keys(schema.tables);

/** KQL words the branches may use besides columns and the names they assign. */
const KQL = new Set(["where", "project", "extend", "and", "or", "not", "in", "has", "ago", "now", "tostring", "toupper", "tolower", "toint", "split", "isnotempty", "isempty", "strcat", "true", "false"]);

/** Each `(<Table> ...)` branch of a union, found by matching parentheses outside string literals. */
function branches(kql: string): { table: string; text: string }[] {
  const out: { table: string; text: string }[] = [];
  for (const table of TABLES) {
    for (let at = kql.indexOf(`(${table}`); at >= 0; at = kql.indexOf(`(${table}`, at + 1)) {
      let depth = 0;
      let quote: string | undefined;
      let end = at;
      for (; end < kql.length; end++) {
        const c = kql[end]!;
        if (quote) {
          if (c === quote) quote = undefined;
        } else if (c === '"' || c === "'") quote = c;
        else if (c === "(") depth++;
        else if (c === ")" && --depth === 0) break;
      }
      out.push({ table, text: kql.slice(at + 1 + table.length, end) });
    }
  }
  return out;
}

/** Identifiers a branch reads that are neither KQL nor a name the branch itself assigns. */
function columnsRead(text: string): string[] {
  const code = text.replace(/"[^"]*"|'[^']*'/g, '""');
  const assigned = new Set([...code.matchAll(/([A-Za-z_]\w*)\s*=(?!=)/g)].map((m) => m[1]!));
  const ids = [...code.matchAll(/(?<![\w.])([A-Za-z_]\w*)/g)].map((m) => m[1]!);
  return [...new Set(ids.filter((id) => !KQL.has(id) && !assigned.has(id)))];
}

function unknownColumns(kql: string): string[] {
  return branches(kql).flatMap((b) => {
    const known = new Set(schema.tables[b.table]!.columns.map((c) => c.name));
    return columnsRead(b.text).filter((c) => !known.has(c)).map((c) => `${b.table}.${c}`);
  });
}

const alerts = blockAfter(read("infra/modules/alerts.bicep"), "var rules =");
const kvAlert = /name:\s*'keyvault-old-version-use'[\s\S]*?query:\s*'''([\s\S]*?)'''/.exec(alerts)?.[1] ?? "";
const workbook = JSON.parse(read("infra/monitoring/workbook.json")) as { items: { type: number; name?: string; content: { query?: string; resourceType?: string; crossComponentResources?: string[] } }[] };
const kvItem = workbook.items.find((i) => i.name === "keyvault-version-ops");

describe("Key Vault diagnostic-log queries", () => {
  it("the vendored schema names its sources on Microsoft Learn and has the columns the queries rely on", () => {
    for (const t of TABLES) expect(schema.tables[t]!.source).toMatch(/^https:\/\/learn\.microsoft\.com\/en-us\/azure\/azure-monitor\/reference\/tables\//);
    const cols = (t: string) => schema.tables[t]!.columns.map((c) => c.name);
    expect(cols("AZKVAuditLogs")).toEqual(expect.arrayContaining(["Id", "OperationName", "ResultSignature", "TimeGenerated", "_ResourceId", "CallerIpAddress"]));
    expect(cols("AzureDiagnostics")).toEqual(expect.arrayContaining(["id_s", "OperationName", "ResourceProvider", "Category", "Resource", "TimeGenerated"]));
  });

  it("the checker catches a column that is not in a table (it can fail)", () => {
    expect(unknownColumns("union (AZKVAuditLogs\n| project TimeGenerated, v = id_s)")).toEqual(["AZKVAuditLogs.id_s"]);
    expect(unknownColumns("union (AzureDiagnostics\n| where Idd == \"x\")")).toEqual(["AzureDiagnostics.Idd"]);
    expect(unknownColumns("union (AzureDiagnostics\n| where OperationName == \"KeySign\" and id_s has \"/keys/\")")).toEqual([]);
  });

  it("the alert rule reads operations per key version from both tables, only through their documented columns", () => {
    expect(kvAlert).not.toBe("");
    expect(branches(kvAlert).map((b) => b.table).sort()).toEqual(["AZKVAuditLogs", "AzureDiagnostics"]);
    expect(unknownColumns(kvAlert)).toEqual([]);
    // Old-version use that does not fall: the last day against the day before, per version.
    expect(kvAlert).toMatch(/where version != newestVersion/);
    expect(kvAlert).toMatch(/lastDay >= dayBefore/);
    expect(alerts).toMatch(/name: 'keyvault-old-version-use'[\s\S]*?scope: 'workspace'/);
    expect(read("infra/modules/alerts.bicep")).toContain("contains(r, 'scope') ? workspaceId : appInsightsId");
  });

  it("the workbook charts operations per key version from the workspace, through the documented columns", () => {
    expect(kvItem?.content.resourceType).toBe("microsoft.operationalinsights/workspaces");
    expect(kvItem?.content.crossComponentResources).toEqual(["{keyrotor-workspace}"]);
    expect(read("infra/modules/workbook.bicep")).toContain("replace(loadTextContent('../monitoring/workbook.json'), '{keyrotor-workspace}', workspaceId)");
    const q = kvItem?.content.query ?? "";
    expect(branches(q).map((b) => b.table).sort()).toEqual(["AZKVAuditLogs", "AzureDiagnostics"]);
    expect(unknownColumns(q)).toEqual([]);
  });

  it("the diagnostic setting sends the vault's audit logs to the workspace the queries read", () => {
    const kv = read("infra/modules/keyVault.bicep");
    expect(kv).toMatch(/categoryGroup: 'audit', enabled: true/);
    expect(read("infra/main.bicep")).toMatch(/module alerts[\s\S]*?workspaceId: monitoring\.outputs\.workspaceId/);
  });
});
