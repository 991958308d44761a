// Tampering with the tables directly (a raw TableClient, as an attacker with storage access would)
// is detected, and verify() names the first break.
import { describe, expect, it } from "vitest";
import type { TableClient } from "@azure/data-tables";
import { SEAL_CHAIN_ID } from "../../../lib/ports";
import { ephemeralSealSigner, entryHash, tableLedger, type HashChainLedger } from "../../../lib/ledger";
import { escapeKey } from "../../../lib/stores/tables";
import { freshTable } from "../../support/tables";
import { step } from "../../unit/ledger/ledgerContract";

const A = "kek:vault-a/tenant-kek";
const B = "dek:contoso";
const rk = (seq: number) => String(seq).padStart(12, "0");

interface World {
  ledger: HashChainLedger;
  entries: TableClient;
  seals: TableClient;
}

/** Two chains: A with 10 entries, B with 3. */
async function world(): Promise<World> {
  const entries = await freshTable("ledger");
  const seals = await freshTable("seals");
  const ledger = tableLedger({ entries, seals, signer: ephemeralSealSigner() });
  for (let i = 1; i <= 10; i++) await ledger.append(step(A, i, { at: `2026-01-01T00:00:${String(i).padStart(2, "0")}.000Z` }));
  for (let i = 1; i <= 3; i++) await ledger.append(step(B, i));
  return { ledger, entries, seals };
}

async function row(t: TableClient, pk: string, seq: number): Promise<Record<string, unknown>> {
  const { etag: _e, timestamp: _t, ["odata.metadata"]: _m, ...rest } = await t.getEntity<Record<string, unknown>>(pk, rk(seq));
  return rest;
}

describe("ledger tamper detection", () => {
  it("an intact ledger verifies", async () => {
    const { ledger } = await world();
    await ledger.seal();
    expect(await ledger.verify()).toMatchObject({ ok: true, chains: 2, entries: 13, seals: 1 });
  });

  it("a changed field is a hashMismatch at that entry", async () => {
    const { ledger, entries } = await world();
    await entries.updateEntity({ partitionKey: escapeKey(A), rowKey: rk(5), actor: "mallory" }, "Merge");
    const result = await ledger.verify();
    expect(result.ok).toBe(false);
    expect(result.firstBreak).toMatchObject({ keyId: A, seq: 5, problem: "hashMismatch" });
  });

  it("a field stored again under another EDM type with the same text is a hashMismatch at that entry", async () => {
    const entries = await freshTable("ledger");
    const ledger = tableLedger({ entries, seals: await freshTable("seals"), signer: ephemeralSealSigner() });
    const rotationId = "5f0c4f4e-8d3c-4b8e-9a51-0d7e3f1c2b6a";
    await ledger.append(step(A, 1, { rotationId }));
    await ledger.append(step(A, 2));
    await entries.updateEntity({ partitionKey: escapeKey(A), rowKey: rk(1), rotationId: { type: "Guid", value: rotationId } }, "Merge");
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: A, seq: 1, problem: "hashMismatch" });
  });

  it("a changed field with its own hash recomputed still breaks the link to the next entry", async () => {
    const { ledger, entries } = await world();
    const r5 = await row(entries, escapeKey(A), 5);
    const forged = { ...r5, actor: "mallory", counts: JSON.parse(r5.counts as string) };
    const hash = entryHash(forged as never);
    await entries.updateEntity({ partitionKey: escapeKey(A), rowKey: rk(5), actor: "mallory", hash }, "Merge");
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: A, seq: 6, problem: "hashMismatch" });
  });

  it("a deleted middle entry is a gap at its sequence number", async () => {
    const { ledger, entries } = await world();
    await entries.deleteEntity(escapeKey(A), rk(4));
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: A, seq: 4, problem: "gap" });
  });

  it("a tail deleted after a seal (head row rewound too) is truncatedAfterSeal", async () => {
    const { ledger, entries } = await world();
    await ledger.seal();
    await entries.deleteEntity(escapeKey(A), rk(10));
    await entries.deleteEntity(escapeKey(A), rk(9));
    const r8 = await row(entries, escapeKey(A), 8);
    await entries.updateEntity({ partitionKey: escapeKey(A), rowKey: "head", keyId: A, seq: 8, hash: r8.hash as string, at: r8.at as string }, "Replace");
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: A, seq: 9, problem: "truncatedAfterSeal" });
  });

  it("a tail deleted before any seal is caught by the head row as a gap", async () => {
    const { ledger, entries } = await world();
    await entries.deleteEntity(escapeKey(A), rk(10));
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: A, seq: 10, problem: "gap" });
  });

  it("two swapped entries are reported as reordered at the first of them", async () => {
    const { ledger, entries } = await world();
    const pk = escapeKey(A);
    const [r6, r7] = [await row(entries, pk, 6), await row(entries, pk, 7)];
    await entries.updateEntity({ ...r7, partitionKey: pk, rowKey: rk(6) }, "Replace");
    await entries.updateEntity({ ...r6, partitionKey: pk, rowKey: rk(7) }, "Replace");
    const result = await ledger.verify();
    expect(result.firstBreak).toMatchObject({ keyId: A, seq: 6, problem: "reordered" });
    expect(result.breaks?.map((b) => [b.seq, b.problem])).toEqual([[6, "reordered"], [7, "reordered"]]);
  });

  it("a whole chain deleted after a seal is chainMissing", async () => {
    const { ledger, entries } = await world();
    await ledger.seal();
    for await (const e of entries.listEntities({ queryOptions: { filter: `PartitionKey eq '${escapeKey(B)}'` } })) {
      await entries.deleteEntity(e.partitionKey!, e.rowKey!);
    }
    const result = await ledger.verify();
    expect(result.firstBreak).toMatchObject({ keyId: B, seq: 1, problem: "chainMissing" });
    expect(result.chains).toBe(1);
  });

  it("an altered seal signature is badSealSignature at that seal", async () => {
    const { ledger, seals } = await world();
    await ledger.seal();
    const second = await ledger.seal();
    const sig = Buffer.from(second.signature, "base64url");
    sig[10] = sig[10]! ^ 0xff;
    await seals.updateEntity({ partitionKey: "seal", rowKey: rk(2), signature: sig.toString("base64url") }, "Merge");
    expect((await ledger.verify()).firstBreak).toEqual(expect.objectContaining({ keyId: SEAL_CHAIN_ID, seq: 2, problem: "badSealSignature" }));
  });

  it("a seal whose heads were rewritten no longer matches its signed root", async () => {
    const { ledger, seals } = await world();
    const seal = await ledger.seal();
    const heads = seal.heads.map((h) => (h.keyId === A ? [h.keyId, 8, h.hash] : [h.keyId, h.seq, h.hash]));
    await seals.updateEntity({ partitionKey: "seal", rowKey: rk(1), heads0: JSON.stringify(heads) }, "Merge");
    expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: SEAL_CHAIN_ID, seq: 1, problem: "hashMismatch" });
  });

  it("a seal signed by another key does not verify", async () => {
    const { entries, seals } = await world();
    const forger = tableLedger({ entries, seals, signer: ephemeralSealSigner() });
    await forger.seal();
    const honest = tableLedger({ entries, seals, signer: ephemeralSealSigner("local:other-key") });
    expect((await honest.verify()).firstBreak).toMatchObject({ keyId: SEAL_CHAIN_ID, seq: 1, problem: "badSealSignature" });
  });

  it("appends go on after the head row was deleted by hand", async () => {
    const { ledger, entries } = await world();
    await entries.deleteEntity(escapeKey(B), "head");
    const fresh = tableLedger({ entries, seals: await freshTable("seals"), signer: ephemeralSealSigner() });
    const e = await fresh.append(step(B, 4));
    expect(e.seq).toBe(4);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it("verifies in parallel key ranges and still sees every chain, and breaks in any range, in key order", async () => {
    const { ledger, entries } = await world();
    const keyIds = Array.from({ length: 12 }, (_, i) => `dek:tenant-${String(i).padStart(2, "0")}`);
    for (const k of keyIds) for (let i = 1; i <= 3; i++) await ledger.append(step(k, i));
    await ledger.seal();
    expect(await ledger.verify({ concurrency: 4 })).toMatchObject({ ok: true, chains: 14, entries: 13 + 36 });
    await entries.deleteEntity(escapeKey("dek:tenant-11"), rk(2));
    await entries.deleteEntity(escapeKey("dek:tenant-01"), rk(3));
    const result = await ledger.verify({ concurrency: 4 });
    expect(result.breaks?.map((b) => [b.keyId, b.seq, b.problem])).toEqual([["dek:tenant-01", 3, "truncatedAfterSeal"], ["dek:tenant-11", 2, "gap"]]);
  });

  describe("seals over more chains than one entity holds (heads in rows of their own)", () => {
    /** world(), with seals whose heads always go to heads rows. */
    async function bigSealWorld(): Promise<World> {
      const entries = await freshTable("ledger");
      const seals = await freshTable("seals");
      const ledger = tableLedger({ entries, seals, signer: ephemeralSealSigner(), inlineHeadsChars: 10 });
      for (let i = 1; i <= 4; i++) await ledger.append(step(A, i));
      for (let i = 1; i <= 3; i++) await ledger.append(step(B, i));
      return { ledger, entries, seals };
    }
    const headsRowsOf = async (seals: TableClient, root: string) => {
      const rows: { rowKey: string }[] = [];
      for await (const r of seals.listEntities({ queryOptions: { filter: `PartitionKey eq 'heads:${root}'` } })) rows.push({ rowKey: r.rowKey ?? "" });
      return rows;
    };

    it("stores the heads under the seal's root, reads them back, and verifies", async () => {
      const { ledger, seals } = await bigSealWorld();
      const seal = await ledger.seal();
      expect(await headsRowsOf(seals, seal.root)).toHaveLength(1);
      expect((await ledger.latestSeal())?.heads).toEqual(seal.heads);
      await ledger.append(step(A, 5));
      await ledger.seal();
      expect(await ledger.verify()).toMatchObject({ ok: true, chains: 2, entries: 8, seals: 2 });
    });

    it("a rewritten heads row no longer matches the signed root", async () => {
      const { ledger, seals } = await bigSealWorld();
      const seal = await ledger.seal();
      const heads = seal.heads.map((h) => [h.keyId, h.keyId === A ? 2 : h.seq, h.hash]);
      await seals.updateEntity({ partitionKey: `heads:${seal.root}`, rowKey: "000000", heads0: JSON.stringify(heads) }, "Merge");
      expect((await ledger.verify()).firstBreak).toMatchObject({ keyId: SEAL_CHAIN_ID, seq: 1, problem: "hashMismatch" });
    });

    it("a deleted heads row is reported at its seal, and later seals still catch a cut tail", async () => {
      const { ledger, seals, entries } = await bigSealWorld();
      const first = await ledger.seal();
      await ledger.append(step(A, 5));
      await ledger.seal();
      await seals.deleteEntity(`heads:${first.root}`, "000000");
      await entries.deleteEntity(escapeKey(A), rk(5));
      const result = await ledger.verify();
      expect(result.breaks?.map((b) => [b.keyId, b.seq, b.problem])).toEqual([[SEAL_CHAIN_ID, 1, "hashMismatch"], [A, 5, "truncatedAfterSeal"]]);
    });
  });
});
