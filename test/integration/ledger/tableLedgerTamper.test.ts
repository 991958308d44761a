// The tamper catalogue on Table Storage (Azurite): the rows are edited with a raw TableClient, as an
// attacker with access to the storage account would.
import type { TableClient } from "@azure/data-tables";
import { ephemeralSealSigner, tableLedger } from "../../../lib/ledger";
import { freshTable } from "../../support/tables";
import { ledgerTamperSuite } from "../../unit/ledger/ledgerTamperSuite";

const SYSTEM = new Set(["partitionKey", "rowKey", "etag", "timestamp", "odata.metadata", "odata.etag"]);
const propsOf = (e: Record<string, unknown>) => Object.fromEntries(Object.entries(e).filter(([k]) => !SYSTEM.has(k)));
const isNotFound = (err: unknown) => (err as { statusCode?: number }).statusCode === 404;

ledgerTamperSuite("Table Storage (Azurite)", async () => {
  const tables: Record<"entries" | "seals", TableClient> = { entries: await freshTable("ledger"), seals: await freshTable("seals") };
  const signer = ephemeralSealSigner();
  return {
    ledger: () => tableLedger({ ...tables, signer }),
    raw: {
      get: async (t, pk, rk) => {
        try {
          return propsOf(await tables[t].getEntity<Record<string, unknown>>(pk, rk));
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      put: async (t, pk, rk, props) => {
        await tables[t].upsertEntity({ ...props, partitionKey: pk, rowKey: rk }, "Replace");
      },
      del: async (t, pk, rk) => {
        await tables[t].deleteEntity(pk, rk);
      },
      list: async (t, pk) => {
        const rows: { rowKey: string; props: Record<string, unknown> }[] = [];
        for await (const e of tables[t].listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` } })) {
          rows.push({ rowKey: e.rowKey ?? "", props: propsOf(e) });
        }
        return rows;
      },
    },
  };
});
