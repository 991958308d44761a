// Reads are not snapshots (Table queries page, and appends commit between pages): a chain that grows
// while verify() or entries() reads it is not tampering, and neither reports it as such.
import { describe, expect, it } from "vitest";
import { ephemeralSealSigner, HashChainLedger } from "../../../lib/ledger";
import { MemoryRowStore, type ListRange, type StoredRow } from "../../../lib/ledger/rowStore";
import { collect, step } from "./ledgerContract";

const A = "kek:vault-a/growing";

/** A MemoryRowStore whose listing calls `during(stage)` before it reads anything, and in each
 * partition between the rows below the head row, the head row and the rows after it, each read
 * fresh: what a paged Table query sees when appends commit between its pages. */
class PagedStore extends MemoryRowStore {
  during: ((stage: "beforeRows" | "afterEntries" | "afterHead") => Promise<void>) | undefined;

  override async *list(range: ListRange): AsyncIterable<StoredRow> {
    const hook = this.during;
    if (!hook) {
      yield* super.list(range);
      return;
    }
    await hook("beforeRows");
    const pks = new Set<string>();
    for await (const r of super.list(range)) pks.add(r.partitionKey);
    const below = range.rowKeyBelow;
    for (const pk of pks) {
      const one = { ...range, partitionKey: pk, partitionKeyFrom: undefined, partitionKeyBelow: undefined };
      yield* super.list({ ...one, rowKeyBelow: below !== undefined && below < "head" ? below : "head" });
      await hook("afterEntries");
      if (below !== undefined && below <= "head") continue;
      yield* super.list({ ...one, rowKeyFrom: "head", rowKeyBelow: "head\u0000" });
      await hook("afterHead");
      yield* super.list({ ...one, rowKeyFrom: "head\u0000" });
    }
  }
}

async function world() {
  const entries = new PagedStore();
  const seals = new MemoryRowStore();
  const signer = ephemeralSealSigner();
  const reader = new HashChainLedger({ entries, seals, signer });
  const writer = new HashChainLedger({ entries, seals, signer });
  for (let i = 1; i <= 5; i++) await writer.append(step(A, i));
  await writer.seal();
  return { entries, reader, writer };
}

describe("reading a ledger that grows meanwhile", () => {
  it("entries() accepts entries appended after it read the head row", async () => {
    const { entries, reader, writer } = await world();
    entries.during = async (stage) => {
      if (stage === "beforeRows") await writer.append(step(A, 6));
    };
    expect((await collect(reader.entries(A))).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("entries() of a new chain accepts its first entry appended while it read", async () => {
    const { entries, reader, writer } = await world();
    entries.during = async (stage) => {
      if (stage === "beforeRows") await writer.append(step("dek:first", 1));
    };
    expect((await collect(reader.entries("dek:first"))).map((e) => e.seq)).toEqual([1]);
  });

  it("entries() accepts entries appended while and after it read the rows", async () => {
    const { entries, reader, writer } = await world();
    entries.during = async (stage) => {
      if (stage === "beforeRows") await writer.append(step(A, 6));
      if (stage === "afterEntries") await writer.append(step(A, 7));
    };
    expect((await collect(reader.entries(A, { fromSeq: 4 }))).map((e) => e.seq)).toEqual([4, 5, 6]);
  });

  it("verify() does not take an index row committed after it read the head row for a planted one", async () => {
    const { entries, reader, writer } = await world();
    entries.during = async (stage) => {
      if (stage === "afterHead") await writer.append(step(A, 6));
    };
    expect(await reader.verify()).toMatchObject({ ok: true });
  });

  it("verify() does not take a chain started after it read the registry for an unregistered one", async () => {
    const { entries, reader, writer } = await world();
    let started = false;
    entries.during = async () => {
      if (started) return;
      started = true;
      await writer.append(step("dek:newcomer", 1));
    };
    expect(await reader.verify()).toMatchObject({ ok: true });
    expect((await collect(reader.entries("dek:newcomer"))).length).toBe(1);
  });
});
