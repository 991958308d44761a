// Raw Query Entities pages (lib/stores/tableQuery.ts) against Azurite through a real TableClient's
// pipeline: same rows, order and continuation as the SDK's listEntities, plain JSON values.
import { describe, expect, it } from "vitest";
import { generateTableSas, odata, TableClient, type TransactionAction } from "@azure/data-tables";
import { RestError } from "@azure/core-rest-pipeline";
import { queryPage, queryPages, type RawRow } from "../../../lib/stores/tableQuery";
import { azuriteUrl, devstoreCredential, freshTable, uniqueTableName } from "../../support/tables";

async function fill(t: TableClient, partitions: string[], perPartition: number): Promise<void> {
  for (const pk of partitions) {
    for (let start = 0; start < perPartition; start += 100) {
      const actions: TransactionAction[] = [];
      for (let i = start; i < Math.min(start + 100, perPartition); i++) {
        actions.push(["create", { partitionKey: pk, rowKey: String(i).padStart(5, "0"), seq: i, text: `it's "row" ${i}/${pk}`, ok: i % 2 === 0, ratio: i + 0.5 }]);
      }
      await t.submitTransaction(actions);
    }
  }
}

async function collect(t: TableClient, filter?: string, select?: string[], pageSize?: number) {
  const rows: RawRow[] = [];
  let pages = 0;
  for await (const page of queryPages(t, { ...(filter ? { filter } : {}), ...(select ? { select } : {}), ...(pageSize ? { pageSize } : {}) })) {
    pages += 1;
    rows.push(...page);
  }
  return { rows, pages };
}

describe("raw table query pages", () => {
  it("returns every row across partitions and continuation tokens, in the order listEntities returns them", async () => {
    const t = await freshTable("rawq");
    await fill(t, ["a%2fone", "b", "c'quote"], 450);
    const { rows, pages } = await collect(t, undefined, undefined, 200);
    expect(rows).toHaveLength(1350);
    expect(pages).toBeGreaterThanOrEqual(7);
    const sdk: string[] = [];
    for await (const e of t.listEntities()) sdk.push(`${e.partitionKey}/${e.rowKey}`);
    expect(rows.map((r) => `${r.partitionKey}/${r.rowKey}`)).toEqual(sdk);
  });

  it("keeps strings, 32-bit integers, doubles and booleans exactly as written", async () => {
    const t = await freshTable("rawq");
    await fill(t, ["p"], 3);
    const { rows } = await collect(t);
    expect(rows[1]).toEqual({ partitionKey: "p", rowKey: "00001", props: { seq: 1, text: `it's "row" 1/p`, ok: false, ratio: 1.5 } });
  });

  it("applies the filter on the service and returns only the selected properties plus the keys", async () => {
    const t = await freshTable("rawq");
    await fill(t, ["p", "q"], 1200);
    const { rows } = await collect(t, odata`PartitionKey eq ${"q"} and RowKey lt ${"01100"}`, ["seq"]);
    expect(rows).toHaveLength(1100);
    expect(rows.every((r) => r.partitionKey === "q")).toBe(true);
    expect(Object.keys(rows[0]!.props)).toEqual(["seq"]);
  });

  it("reports the last page without a continuation", async () => {
    const t = await freshTable("rawq");
    await fill(t, ["p"], 10);
    const page = await queryPage(t, {});
    expect(page.rows).toHaveLength(10);
    expect(page.continuation).toBeUndefined();
  });

  it("fails with the service's status and error code for a bad filter and for a missing table", async () => {
    const t = await freshTable("rawq");
    const bad = await queryPage(t, { filter: "PartitionKey eq eq" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RestError);
    expect(bad).toMatchObject({ statusCode: 400 });
    const missing = new TableClient(t.url, uniqueTableName("absent"), devstoreCredential, { allowInsecureConnection: true });
    const gone = await queryPage(missing, {}).catch((e: unknown) => e);
    expect(gone).toMatchObject({ statusCode: 404, code: "TableNotFound" });
  });

  it("refuses plain HTTP to anything but the loopback emulator (the request carries a signature)", async () => {
    const notLoopback = new TableClient("http://127.0.0.2:9/devstoreaccount1", "anytable", devstoreCredential, { allowInsecureConnection: true });
    await expect(queryPage(notLoopback, {})).rejects.toThrow(/allowInsecureConnection is false/);
  });

  it("returns values of other EDM types as {type, value}, never as a bare string", async () => {
    const t = await freshTable("rawq");
    await t.createEntity({
      partitionKey: "p", rowKey: "r", plain: "5f0c4f4e-8d3c-4b8e-9a51-0d7e3f1c2b6a",
      asGuid: { type: "Guid", value: "5f0c4f4e-8d3c-4b8e-9a51-0d7e3f1c2b6a" }, big: { type: "Int64", value: "9007199254740993" },
    });
    const [row] = (await collect(t)).rows;
    // Exactly these properties: no annotation keys, no metadata, no Timestamp.
    expect(row!.props).toEqual({ plain: "5f0c4f4e-8d3c-4b8e-9a51-0d7e3f1c2b6a", asGuid: { type: "Edm.Guid", value: "5f0c4f4e-8d3c-4b8e-9a51-0d7e3f1c2b6a" }, big: { type: "Edm.Int64", value: "9007199254740993" } });
  });

  it("reads through a client whose URL carries a SAS", async () => {
    const t = await freshTable("rawq");
    await fill(t, ["p"], 5);
    const sas = generateTableSas(t.tableName, devstoreCredential, { permissions: { query: true }, expiresOn: new Date(Date.now() + 3_600_000) });
    const viaSas = TableClient.fromConnectionString(`TableEndpoint=${azuriteUrl()};SharedAccessSignature=${sas}`, t.tableName, { allowInsecureConnection: true });
    expect(viaSas.url).toContain("sig=");
    expect((await collect(viaSas)).rows).toHaveLength(5);
  });
});

