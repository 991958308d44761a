// The tamper catalogue on the memory adapter (the same rules as on Table Storage, in milliseconds).
import { ephemeralSealSigner, HashChainLedger } from "../../../lib/ledger";
import { MemoryRowStore } from "../../../lib/ledger/rowStore";
import { ledgerTamperSuite } from "./ledgerTamperSuite";

ledgerTamperSuite("memory", async () => {
  const stores = { entries: new MemoryRowStore(), seals: new MemoryRowStore() };
  const signer = ephemeralSealSigner();
  return {
    ledger: () => new HashChainLedger({ ...stores, signer }),
    raw: {
      get: async (t, pk, rk) => (await stores[t].get(pk, rk))?.props,
      put: async (t, pk, rk, props) => stores[t].tamper(pk, rk, props),
      del: async (t, pk, rk) => stores[t].tamper(pk, rk, undefined),
      list: async (t, pk) => {
        const rows: { rowKey: string; props: Record<string, unknown> }[] = [];
        for await (const r of stores[t].list({ partitionKey: pk })) rows.push({ rowKey: r.rowKey, props: r.props });
        return rows;
      },
    },
  };
});
