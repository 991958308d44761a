import { describe, expect, it } from "vitest";
import { HashChainLedger, ephemeralSealSigner, memoryLedger } from "../../../lib/ledger";
import { MemoryRowStore } from "../../../lib/ledger/rowStore";
import { ledgerContract, step } from "./ledgerContract";

ledgerContract("memory", async () => {
  const entries = new MemoryRowStore();
  const seals = new MemoryRowStore();
  const signer = ephemeralSealSigner();
  return { writers: (n) => Array.from({ length: n }, () => new HashChainLedger({ entries, seals, signer })) };
});

describe("memory ledger", () => {
  it("refuses to seal without a signer, naming the setting", async () => {
    const ledger = memoryLedger();
    await ledger.append(step("dek:a", 1));
    await expect(ledger.seal()).rejects.toThrow(/KEYROTOR_SEAL_KEY_ID/);
  });

  it("stamps entries with the clock when the writer gives no time", async () => {
    const ledger = memoryLedger({ clock: { now: () => new Date("2026-03-01T00:00:00Z") } });
    expect((await ledger.append(step("dek:a", 1))).at).toBe("2026-03-01T00:00:00.000Z");
  });

  it("seals 20,000 chains (heads far beyond one Table entity) and verifies them all", async () => {
    const seals = new MemoryRowStore();
    const ledger = new HashChainLedger({ entries: new MemoryRowStore(), seals, signer: ephemeralSealSigner() });
    const keys = Array.from({ length: 20_000 }, (_, i) => `dek:tenant-${String(i).padStart(5, "0")}`);
    for (const k of keys) await ledger.append(step(k, 1));
    const seal = await ledger.seal();
    expect(seal.chains).toBe(20_000);
    let headsRows = 0;
    for await (const _ of seals.list({ partitionKey: `heads:${seal.root}` })) headsRows += 1;
    expect(headsRows).toBeGreaterThan(1);
    expect(await ledger.verify()).toMatchObject({ ok: true, chains: 20_000, entries: 20_000, seals: 1 });
  });
});

