// One contract for every Ledger adapter (memory and Table Storage): the same observable behaviour.
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import type { LedgerAppend, LedgerEntry, VerifyProgress } from "../../../lib/ports";
import { GENESIS_HASH, entryHash, type HashChainLedger } from "../../../lib/ledger";

export interface LedgerFixture {
  /** `n` independent ledger instances (think: processes) over the same storage. */
  writers(n: number): HashChainLedger[];
}

export const step = (keyId: string, n: number, extra: Partial<LedgerAppend> = {}): LedgerAppend => ({
  keyId, entryId: `${keyId}@r1#${n}`, type: "RewrapProgress", actor: "system:orchestrator", rotationId: `${keyId}@r1`, counts: { rewrapped: n }, ...extra,
});

export async function collect(it: AsyncIterable<LedgerEntry>): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

export function ledgerContract(name: string, fixture: () => Promise<LedgerFixture>): void {
  describe(`Ledger contract: ${name}`, () => {
    it("links each entry to the previous one by hash, starting from the genesis hash", async () => {
      const [ledger] = (await fixture()).writers(1);
      for (let i = 1; i <= 5; i++) await ledger!.append(step("kek:vault-a/k1", i));
      const entries = await collect(ledger!.entries("kek:vault-a/k1"));
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(entries[0]!.prevHash).toBe(GENESIS_HASH);
      for (let i = 1; i < entries.length; i++) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
      for (const e of entries) expect(entryHash(e)).toBe(e.hash);
    });

    it("returns every field as appended, and omits the ones not given", async () => {
      const [ledger] = (await fixture()).writers(1);
      const full: LedgerAppend = {
        keyId: "secret:vault-a/webhook", entryId: "secret:vault-a/webhook@manual:1#failed", type: "Failed", rotationId: "secret:vault-a/webhook@manual:1",
        trigger: "manual", actor: "alice", reason: "quarterly \"review\" ✓", versionBefore: "v1", versionAfter: "v2", counts: { rewrapped: 10, total: 12 },
        error: { code: "Throttled", message: "429 from the vault" }, details: { attempt: 3, final: true, note: "x" }, at: "2026-01-02T03:04:05.000Z",
      };
      const written = await ledger!.append(full);
      const bare = await ledger!.append({ keyId: "secret:vault-a/webhook", entryId: "e2", type: "PolicyChanged", actor: "bob" });
      const [first, second] = await collect(ledger!.entries("secret:vault-a/webhook"));
      expect(first).toEqual({ ...full, seq: 1, prevHash: GENESIS_HASH, hash: written.hash });
      expect(second).toEqual(bare);
      expect(Object.keys(second!).sort()).toEqual(["actor", "at", "entryId", "hash", "keyId", "prevHash", "seq", "type"]);
    });

    it("re-appending an entryId writes nothing and returns the entry already in the chain", async () => {
      const [ledger] = (await fixture()).writers(1);
      const first = await ledger!.append(step("dek:contoso", 1));
      await ledger!.append(step("dek:contoso", 2));
      const again = await ledger!.append({ ...step("dek:contoso", 1), reason: "a retry with other details" });
      expect(again).toEqual(first);
      expect((await collect(ledger!.entries("dek:contoso"))).map((e) => e.seq)).toEqual([1, 2]);
    });

    it("keeps one chain per key, whatever characters the keyId holds", async () => {
      const [ledger] = (await fixture()).writers(1);
      await ledger!.append(step("kek:vault-a/k1", 1));
      await ledger!.append(step("kek:vault-a/k1%2f", 1));
      await ledger!.append(step("kek:vault-a/k1", 2));
      expect((await collect(ledger!.entries("kek:vault-a/k1"))).map((e) => e.seq)).toEqual([1, 2]);
      expect((await collect(ledger!.entries("kek:vault-a/k1%2f"))).map((e) => e.keyId)).toEqual(["kek:vault-a/k1%2f"]);
    });

    it("streams a chain from a given sequence number", async () => {
      const [ledger] = (await fixture()).writers(1);
      for (let i = 1; i <= 4; i++) await ledger!.append(step("dek:fabrikam", i));
      expect((await collect(ledger!.entries("dek:fabrikam", { fromSeq: 3 }))).map((e) => e.seq)).toEqual([3, 4]);
    });

    it("refuses a malformed entry with InvalidRequestError and writes nothing", async () => {
      const [ledger] = (await fixture()).writers(1);
      await expect(ledger!.append({ ...step("dek:t1", 1), type: "Deleted" as never })).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(ledger!.append({ ...step("dek:t1", 1), counts: { n: 1.5 } })).rejects.toThrow(/counts.n must be an integer/);
      await expect(ledger!.append({ ...step("dek:t1", 1), at: "yesterday" })).rejects.toThrow(/at must be an ISO-8601 instant/);
      await expect(ledger!.append({ ...step("dek:t1", 1), entryId: "" })).rejects.toThrow(/entryId/);
      expect(await collect(ledger!.entries("dek:t1"))).toEqual([]);
    });

    it("concurrent writers on one chain produce one gapless chain without duplicates", async () => {
      const writers = (await fixture()).writers(6);
      await Promise.all(writers.map(async (w, wi) => {
        for (let i = 0; i < 8; i++) await w.append(step("kek:vault-a/busy", wi * 100 + i));
      }));
      const entries = await collect(writers[0]!.entries("kek:vault-a/busy"));
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
      expect(new Set(entries.map((e) => e.entryId)).size).toBe(48);
      expect((await writers[0]!.verify()).ok).toBe(true);
    });

    it("concurrent appends of the same entryId write it once and all return that entry", async () => {
      const writers = (await fixture()).writers(5);
      const results = await Promise.all(writers.map((w) => w.append(step("dek:dup", 1))));
      expect(new Set(results.map((r) => r.hash)).size).toBe(1);
      expect((await collect(writers[0]!.entries("dek:dup"))).length).toBe(1);
    });

    it("a seal records the head of every chain, signed, and the sealed ledger verifies", async () => {
      const [ledger] = (await fixture()).writers(1);
      for (let i = 1; i <= 3; i++) await ledger!.append(step("kek:vault-a/k1", i));
      await ledger!.append(step("dek:contoso", 1));
      const seal = await ledger!.seal({ reason: "rotation completed", rotationId: "kek:vault-a/k1@r1" });
      const heads = Object.fromEntries(seal.heads.map((h) => [h.keyId, h.seq]));
      expect(heads).toEqual({ "kek:vault-a/k1": 3, "dek:contoso": 1 });
      expect(seal).toMatchObject({ sealSeq: 1, chains: 2, prevHash: GENESIS_HASH, reason: "rotation completed", rotationId: "kek:vault-a/k1@r1" });
      await ledger!.append(step("kek:vault-a/k1", 4));
      const second = await ledger!.seal();
      expect(second.prevHash).toBe(seal.hash);
      const sealed = [];
      for await (const s of ledger!.seals()) sealed.push(s);
      expect(sealed).toEqual([seal, second]);
      const result = await ledger!.verify();
      expect(result).toMatchObject({ ok: true, chains: 2, entries: 5, seals: 2, latestSeal: { sealSeq: 2, root: second.root } });
      expect(result.firstBreak).toBeUndefined();
    });

    it("verifies an empty ledger as intact", async () => {
      const [ledger] = (await fixture()).writers(1);
      expect(await ledger!.verify()).toMatchObject({ ok: true, chains: 0, entries: 0, seals: 0 });
    });

    it("reports verification progress up to the full count", async () => {
      const [ledger] = (await fixture()).writers(1);
      for (let i = 1; i <= 3; i++) await ledger!.append(step("dek:p", i));
      await ledger!.seal();
      const seen: string[] = [];
      let last: VerifyProgress | undefined;
      await ledger!.verify({ onProgress: (p) => { seen.push(p.phase); last = p; } });
      expect(seen[0]).toBe("seals");
      expect(seen.at(-1)).toBe("done");
      expect(last).toMatchObject({ entries: 3, expectedEntries: 3, chains: 1, seals: 1 });
    });
  });
}
