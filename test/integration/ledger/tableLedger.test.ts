import { describe, expect, it } from "vitest";
import type { TableClient } from "@azure/data-tables";
import { ephemeralSealSigner, tableLedger, type HashChainLedger } from "../../../lib/ledger";
import { freshTable } from "../../support/tables";
import { collect, ledgerContract, step } from "../../unit/ledger/ledgerContract";

async function tables(): Promise<{ entries: TableClient; seals: TableClient }> {
  return { entries: await freshTable("ledger"), seals: await freshTable("seals") };
}

ledgerContract("Table Storage (Azurite)", async () => {
  const t = await tables();
  const signer = ephemeralSealSigner();
  return { writers: (n) => Array.from({ length: n }, () => tableLedger({ ...t, signer })) };
});

describe("Table Storage ledger under contention", () => {
  it("20 concurrent writers × 50 entries on one chain give one gapless chain of 1,000 entries, no duplicates", async () => {
    const t = await tables();
    const signer = ephemeralSealSigner();
    const writers: HashChainLedger[] = Array.from({ length: 20 }, () => tableLedger({ ...t, signer }));
    const keyId = "kek:vault-a/contended";
    await Promise.all(writers.map(async (w, wi) => {
      for (let i = 0; i < 50; i++) await w.append(step(keyId, wi * 1000 + i));
    }));
    const entries = await collect(writers[0]!.entries(keyId));
    expect(entries.length).toBe(1000);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(new Set(entries.map((e) => e.entryId)).size).toBe(1000);

    // Re-appending every entryId (from every writer, concurrently) writes nothing.
    const again = await Promise.all(entries.map((e, i) => writers[i % 20]!.append(step(keyId, Number(e.entryId.split("#")[1])))));
    expect(again.map((e) => e.seq)).toEqual(entries.map((e) => e.seq));
    const rows = await collect(t.entries.listEntities());
    expect(rows.length).toBe(1000 /* entries */ + 1000 /* entryId index */ + 1 /* head */);
    expect(await writers[0]!.verify()).toMatchObject({ ok: true, chains: 1, entries: 1000 });
  }, 180_000 /* ~10 s on a quiet 2-core machine; Azurite slows to ~100 requests/s when the machine is busy */);
});
