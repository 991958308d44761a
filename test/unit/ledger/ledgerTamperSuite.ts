// One tamper catalogue for every Ledger adapter: each case edits the stored rows directly, as an
// attacker (or a careless operator) with write access to the tables would, and states the break
// verify() must report and whether entries() must refuse the chain. Run against Table Storage on
// Azurite (what an attacker really edits) and the memory adapter.
import { describe, expect, it } from "vitest";
import { SEAL_CHAIN_ID, type LedgerEntry } from "../../../lib/ports";
import { HashChainLedger } from "../../../lib/ledger";
import { buildEntry, entryToRow, rowToEntry } from "../../../lib/ledger/entry";
import { escapeKey } from "../../../lib/stores/tables";
import { collect, step } from "./ledgerContract";

export type TableName = "entries" | "seals";

/** Raw access to the two tables, bypassing the ledger (ETags, create-only rules, validation). */
export interface RawTables {
  get(table: TableName, pk: string, rk: string): Promise<Record<string, unknown> | undefined>;
  /** Insert or replace the whole row. */
  put(table: TableName, pk: string, rk: string, props: Record<string, unknown>): Promise<void>;
  del(table: TableName, pk: string, rk: string): Promise<void>;
  list(table: TableName, pk: string): Promise<{ rowKey: string; props: Record<string, unknown> }[]>;
}

export interface TamperFixture {
  /** A new ledger instance (think: a fresh process) over the fixture's storage, same seal key. */
  ledger(): HashChainLedger;
  raw: RawTables;
}

export const A = "kek:vault-a/tenant-kek";
export const B = "dek:contoso";
export const rk = (seq: number): string => String(seq).padStart(12, "0");
const pkA = escapeKey(A);
const pkB = escapeKey(B);

interface World extends TamperFixture {
  writer: HashChainLedger;
}

/** A with 12 entries (1..10 under seal 1, 11 under seal 2, 12 unsealed), B with 3 (seal 1);
 * `sealed: false`: the same entries and no seal at all. */
async function build(fixture: () => Promise<TamperFixture>, sealed = true): Promise<World> {
  const f = await fixture();
  const writer = f.ledger();
  const at = (i: number) => `2026-01-01T00:00:${String(i).padStart(2, "0")}.000Z`;
  for (let i = 1; i <= 10; i++) await writer.append(step(A, i, { at: at(i) }));
  for (let i = 1; i <= 3; i++) await writer.append(step(B, i, { at: at(i) }));
  if (sealed) await writer.seal({ at: at(20) });
  await writer.append(step(A, 11, { at: at(21) }));
  if (sealed) await writer.seal({ at: at(22) });
  await writer.append(step(A, 12, { at: at(23) }));
  return { ...f, writer };
}

async function entryAt(w: World, pk: string, seq: number): Promise<LedgerEntry> {
  const row = await w.raw.get("entries", pk, rk(seq));
  const e = row ? rowToEntry(row) : "absent";
  if (typeof e === "string") throw new Error(`test setup: entry ${seq} of ${pk}: ${e}`);
  return e;
}

/** What a careful forger does: replaces chain A by `entries` (renumbered, every hash recomputed),
 * with matching id rows and head row. Only a seal can tell. */
async function rewriteA(w: World, entries: LedgerEntry[]): Promise<void> {
  for (const r of await w.raw.list("entries", pkA)) await w.raw.del("entries", pkA, r.rowKey);
  let prev = "0".repeat(64);
  let last: LedgerEntry | undefined;
  for (const [i, old] of entries.entries()) {
    const { seq: _s, hash: _h, prevHash: _p, ...fields } = old;
    last = buildEntry(fields, i + 1, prev, old.at);
    prev = last.hash;
    await w.raw.put("entries", pkA, rk(last.seq), entryToRow(last));
    await w.raw.put("entries", pkA, `id:${escapeKey(last.entryId)}`, { seq: last.seq });
  }
  if (last) await w.raw.put("entries", pkA, "head", { keyId: A, at: last.at, seq: last.seq, hash: last.hash });
}

async function chainOf(w: World, pk: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for (let seq = 1; ; seq++) {
    const row = await w.raw.get("entries", pk, rk(seq));
    if (!row) return out;
    out.push(await entryAt(w, pk, seq));
  }
}

/** A Promoted entry a forger would like a rollback to act on. */
const forgedPromotion = (seq: number, prevHash: string): LedgerEntry =>
  buildEntry({ keyId: A, entryId: `${A}@forged#promoted`, type: "Promoted", actor: "mallory", rotationId: `${A}@forged`, versionAfter: "attacker-version" }, seq, prevHash, "2026-01-01T00:00:05.500Z");

interface TamperCase {
  name: string;
  /** false: tamper with a ledger that was never sealed. */
  sealed?: boolean;
  tamper(w: World): Promise<void>;
  /** verify()'s first break. */
  first: { keyId: string; seq: number; problem: string };
  /** entries() of these chains refuses (LedgerTampered); every other chain still reads. */
  refuses?: string[];
}

const CASES: TamperCase[] = [
  {
    name: "an edited entry",
    tamper: (w) => w.raw.get("entries", pkA, rk(5)).then((r) => w.raw.put("entries", pkA, rk(5), { ...r, actor: "mallory" })),
    first: { keyId: A, seq: 5, problem: "hashMismatch" },
    refuses: [A],
  },
  {
    name: "an edited entry whose own hash was recomputed",
    tamper: async (w) => {
      const e = await entryAt(w, pkA, 5);
      const { hash: _h, ...fields } = { ...e, actor: "mallory" };
      await w.raw.put("entries", pkA, rk(5), entryToRow(buildEntry(fields, e.seq, e.prevHash, e.at)));
    },
    first: { keyId: A, seq: 6, problem: "hashMismatch" },
    refuses: [A],
  },
  {
    name: "a deleted entry",
    tamper: (w) => w.raw.del("entries", pkA, rk(4)),
    first: { keyId: A, seq: 4, problem: "gap" },
    refuses: [A],
  },
  {
    name: "an entry inserted in the sealed part, the rest renumbered and every hash, id row and the head recomputed",
    tamper: async (w) => {
      const chain = await chainOf(w, pkA);
      chain.splice(5, 0, forgedPromotion(6, ""));
      await rewriteA(w, chain);
    },
    first: { keyId: A, seq: 10, problem: "hashMismatch" },
    refuses: [A],
  },
  {
    name: "two entries swapped",
    tamper: async (w) => {
      const [r6, r7] = [await w.raw.get("entries", pkA, rk(6)), await w.raw.get("entries", pkA, rk(7))];
      await w.raw.put("entries", pkA, rk(6), r7!);
      await w.raw.put("entries", pkA, rk(7), r6!);
    },
    first: { keyId: A, seq: 6, problem: "reordered" },
    refuses: [A],
  },
  {
    name: "entries reordered with every hash, id row and the head recomputed",
    tamper: async (w) => {
      const chain = await chainOf(w, pkA);
      [chain[5], chain[6]] = [chain[6]!, chain[5]!];
      await rewriteA(w, chain);
    },
    first: { keyId: A, seq: 10, problem: "hashMismatch" },
    refuses: [A],
  },
  {
    name: "a truncated tail, head row rewound, after a seal",
    tamper: async (w) => {
      await w.raw.del("entries", pkA, rk(12));
      await w.raw.del("entries", pkA, rk(11));
      const e10 = await entryAt(w, pkA, 10);
      await w.raw.put("entries", pkA, "head", { keyId: A, at: e10.at, seq: 10, hash: e10.hash });
    },
    first: { keyId: A, seq: 11, problem: "truncatedAfterSeal" },
    refuses: [A],
  },
  {
    name: "a truncated tail, never sealed, head row left",
    sealed: false,
    tamper: (w) => w.raw.del("entries", pkA, rk(12)),
    first: { keyId: A, seq: 12, problem: "gap" },
    refuses: [A],
  },
  {
    name: "a truncated tail, never sealed, head row rewound (the index rows still name the cut entries)",
    sealed: false,
    tamper: async (w) => {
      await w.raw.del("entries", pkA, rk(12));
      const e11 = await entryAt(w, pkA, 11);
      await w.raw.put("entries", pkA, "head", { keyId: A, at: e11.at, seq: 11, hash: e11.hash });
    },
    first: { keyId: A, seq: 12, problem: "indexMismatch" },
  },
  {
    name: "a forged entry under a RowKey that is not a sequence number, between two entries",
    tamper: async (w) => w.raw.put("entries", pkA, `${rk(5)}a`, entryToRow(forgedPromotion(6, (await entryAt(w, pkA, 5)).hash))),
    first: { keyId: A, seq: 5, problem: "strayRow" },
    refuses: [A],
  },
  {
    name: "a row under a RowKey that is neither an entry, the head nor an index row, after the index rows",
    tamper: (w) => w.raw.put("entries", pkA, "zz-note", { seq: 3, note: "x" }),
    first: { keyId: A, seq: 12, problem: "strayRow" },
  },
  {
    name: "an entry row at sequence 0",
    tamper: async (w) => w.raw.put("entries", pkA, rk(0), entryToRow(forgedPromotion(0, "0".repeat(64)))),
    first: { keyId: A, seq: 0, problem: "strayRow" },
    refuses: [A],
  },
  {
    name: "a planted id: row that names an entry holding another entryId",
    tamper: (w) => w.raw.put("entries", pkA, `id:${escapeKey(step(A, 13).entryId)}`, { seq: 3 }),
    first: { keyId: A, seq: 3, problem: "indexMismatch" },
  },
  {
    name: "a planted id: row that names an entry that does not exist",
    tamper: (w) => w.raw.put("entries", pkA, `id:${escapeKey(step(A, 13).entryId)}`, { seq: 40 }),
    first: { keyId: A, seq: 40, problem: "indexMismatch" },
  },
  {
    name: "a deleted id: row (a retried append would write its entry twice)",
    tamper: (w) => w.raw.del("entries", pkA, `id:${escapeKey(step(A, 4).entryId)}`),
    first: { keyId: A, seq: 4, problem: "indexMismatch" },
  },
  {
    name: "a deleted chain registry row (the chain would never be sealed again)",
    tamper: (w) => w.raw.del("seals", "chain", pkB),
    first: { keyId: B, seq: 3, problem: "unregistered" },
  },
  {
    name: "a chain registry row rewritten to name another chain",
    tamper: (w) => w.raw.put("seals", "chain", pkB, { keyId: "dek:somebody-else" }),
    first: { keyId: B, seq: 3, problem: "unregistered" },
  },
  {
    name: "a seal replaced by a copy of the next one",
    tamper: async (w) => w.raw.put("seals", "seal", rk(1), (await w.raw.get("seals", "seal", rk(2)))!),
    first: { keyId: SEAL_CHAIN_ID, seq: 1, problem: "reordered" },
  },
  {
    name: "a seal whose reason was edited",
    tamper: async (w) => w.raw.put("seals", "seal", rk(1), { ...(await w.raw.get("seals", "seal", rk(1))), reason: "nothing to see" }),
    first: { keyId: SEAL_CHAIN_ID, seq: 1, problem: "hashMismatch" },
  },
  {
    name: "a deleted middle seal",
    tamper: async (w) => {
      await w.writer.seal({ at: "2026-01-01T00:00:30.000Z" });
      await w.raw.del("seals", "seal", rk(2));
    },
    first: { keyId: SEAL_CHAIN_ID, seq: 2, problem: "gap" },
  },
  {
    name: "the latest seal deleted, its head row left",
    tamper: (w) => w.raw.del("seals", "seal", rk(2)),
    first: { keyId: SEAL_CHAIN_ID, seq: 2, problem: "truncatedAfterSeal" },
    // entries() checks every chain against the latest seal; with that seal gone it checks nothing.
    refuses: [A, B],
  },
  {
    name: "a forged seal under a RowKey that is not a sequence number",
    tamper: async (w) => w.raw.put("seals", "seal", `${rk(1)}b`, (await w.raw.get("seals", "seal", rk(1)))!),
    first: { keyId: SEAL_CHAIN_ID, seq: 1, problem: "strayRow" },
  },
  {
    name: "the seal chain's head row rewound",
    tamper: async (w) => w.raw.put("seals", "seal", "head", { ...(await w.raw.get("seals", "seal", "head")), seq: 1, hash: (await w.raw.get("seals", "seal", rk(1)))!.hash }),
    first: { keyId: SEAL_CHAIN_ID, seq: 2, problem: "headMismatch" },
  },
  {
    name: "a chain's head row rewound (appends would collide with existing rows)",
    tamper: async (w) => {
      const e8 = await entryAt(w, pkA, 8);
      await w.raw.put("entries", pkA, "head", { keyId: A, at: e8.at, seq: 8, hash: e8.hash });
    },
    first: { keyId: A, seq: 12, problem: "headMismatch" },
    refuses: [A],
  },
  {
    name: "a chain's head row naming another hash (the next append would link to it)",
    tamper: async (w) => w.raw.put("entries", pkA, "head", { ...(await w.raw.get("entries", pkA, "head")), hash: "f".repeat(64) }),
    first: { keyId: A, seq: 12, problem: "headMismatch" },
    refuses: [A],
  },
  {
    name: "a chain's head row deleted",
    tamper: (w) => w.raw.del("entries", pkA, "head"),
    first: { keyId: A, seq: 12, problem: "headMismatch" },
    refuses: [A],
  },
  {
    name: "a whole chain deleted after a seal",
    tamper: async (w) => {
      for (const r of await w.raw.list("entries", pkB)) await w.raw.del("entries", pkB, r.rowKey);
    },
    first: { keyId: B, seq: 1, problem: "chainMissing" },
    refuses: [B],
  },
  {
    name: "a whole chain and its registry row deleted after a seal",
    tamper: async (w) => {
      for (const r of await w.raw.list("entries", pkB)) await w.raw.del("entries", pkB, r.rowKey);
      await w.raw.del("seals", "chain", pkB);
    },
    first: { keyId: B, seq: 1, problem: "chainMissing" },
    refuses: [B],
  },
  {
    name: "a whole chain deleted before any seal (its registry row remains)",
    sealed: false,
    tamper: async (w) => {
      for (const r of await w.raw.list("entries", pkB)) await w.raw.del("entries", pkB, r.rowKey);
    },
    first: { keyId: B, seq: 1, problem: "chainMissing" },
  },
];

const isTampered = (err: unknown) => (err as { code?: unknown }).code === "LedgerTampered";

/** Tamperings for the random rounds below: each edits chain A's partition in one way. */
const RANDOM_EDITS: ((w: World, n: number) => Promise<void>)[] = [
  async (w, n) => w.raw.put("entries", pkA, rk(n), { ...(await w.raw.get("entries", pkA, rk(n))), reason: "edited" }),
  async (w, n) => w.raw.del("entries", pkA, rk(n)),
  async (w, n) => w.raw.put("entries", pkA, `${rk(n)}x`, entryToRow(forgedPromotion(n + 1, (await entryAt(w, pkA, n)).hash))),
  async (w, n) => {
    const [a, b] = [await w.raw.get("entries", pkA, rk(n)), await w.raw.get("entries", pkA, rk(n + 1))];
    if (a && b) await Promise.all([w.raw.put("entries", pkA, rk(n), b), w.raw.put("entries", pkA, rk(n + 1), a)]);
  },
  async (w, n) => w.raw.put("entries", pkA, "head", { keyId: A, seq: n, hash: (await w.raw.get("entries", pkA, rk(n)))?.hash ?? "x" }),
  async (w) => w.raw.del("entries", pkA, "head"),
  async (w, n) => w.raw.del("entries", pkA, `id:${escapeKey(step(A, n).entryId)}`),
  async (w, n) => w.raw.put("entries", pkA, `id:${escapeKey(`planted-${n}`)}`, { seq: n }),
  async (w, n) => {
    for (let s = 12; s > n; s--) await w.raw.del("entries", pkA, rk(s));
  },
];

export function ledgerTamperSuite(name: string, fixture: () => Promise<TamperFixture>): void {
  describe(`Ledger tamper catalogue: ${name}`, () => {
    it("the untouched world verifies, sealed and unsealed, and every chain reads", async () => {
      for (const sealed of [true, false]) {
        const w = await build(fixture, sealed);
        expect(await w.ledger().verify()).toMatchObject({ ok: true, chains: 2, entries: 15, seals: sealed ? 2 : 0 });
        expect((await collect(w.ledger().entries(A))).map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      }
    });

    for (const c of CASES) {
      const also = c.refuses ? `; entries() of ${c.refuses.join(" and ")} refuses` : "";
      it(`${c.name}: verify reports ${c.first.problem} at ${c.first.keyId} #${c.first.seq}${also}`, async () => {
        const w = await build(fixture, c.sealed ?? true);
        await c.tamper(w);
        const ledger = w.ledger();
        const result = await ledger.verify();
        expect(result.ok).toBe(false);
        expect(result.firstBreak).toMatchObject(c.first);
        for (const keyId of [A, B]) {
          const read = collect(ledger.entries(keyId));
          if (c.refuses?.includes(keyId)) {
            await expect(read).rejects.toSatisfy(isTampered);
          } else {
            await expect(read).resolves.toBeInstanceOf(Array);
          }
        }
      });
    }

    it("entries() never returns a forged row: a forged Promoted entry under a non-sequence RowKey is refused, not read", async () => {
      const w = await build(fixture);
      await w.raw.put("entries", pkA, `${rk(5)}a`, entryToRow(forgedPromotion(6, (await entryAt(w, pkA, 5)).hash)));
      const seen: LedgerEntry[] = [];
      await expect((async () => {
        for await (const e of w.ledger().entries(A)) seen.push(e);
      })()).rejects.toSatisfy(isTampered);
      expect(seen.map((e) => e.versionAfter)).not.toContain("attacker-version");
    });

    it("random tamperings: whenever entries() returns a chain, verify finds none of its entry rows broken", async () => {
      let seed = 20261205;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      // Breaks that concern rows entries() never returns: index rows, the registry.
      const notAboutEntries = new Set(["indexMismatch", "unregistered"]);
      for (let round = 0; round < 12; round++) {
        const w = await build(fixture, rand(2) === 0);
        const edits = 1 + rand(2);
        for (let i = 0; i < edits; i++) await RANDOM_EDITS[rand(RANDOM_EDITS.length)]!(w, 1 + rand(11));
        const ledger = w.ledger();
        let read: LedgerEntry[] | "refused";
        try {
          read = await collect(ledger.entries(A));
        } catch (err) {
          if (!isTampered(err)) throw err;
          read = "refused";
        }
        const breaks = ((await ledger.verify()).breaks ?? []).filter((b) => b.keyId === A && !notAboutEntries.has(b.problem));
        if (read !== "refused") expect({ round, breaks }).toEqual({ round, breaks: [] });
      }
    });

    it("entries() from a sequence number still checks the tail against the seal and the head row", async () => {
      const w = await build(fixture);
      expect((await collect(w.ledger().entries(A, { fromSeq: 11 }))).map((e) => e.seq)).toEqual([11, 12]);
      expect(await collect(w.ledger().entries(A, { fromSeq: 20 }))).toEqual([]);
      await w.raw.del("entries", pkA, rk(12));
      await w.raw.del("entries", pkA, rk(11));
      const e10 = await entryAt(w, pkA, 10);
      await w.raw.put("entries", pkA, "head", { keyId: A, at: e10.at, seq: 10, hash: e10.hash });
      await expect(collect(w.ledger().entries(A, { fromSeq: 5 }))).rejects.toSatisfy(isTampered);
      await expect(collect(w.ledger().entries(A, { fromSeq: 20 }))).rejects.toSatisfy(isTampered);
    });

    it("entries() from just after a deleted entry reads from the start and refuses the gap", async () => {
      const w = await build(fixture);
      await w.raw.del("entries", pkA, rk(4));
      await expect(collect(w.ledger().entries(A, { fromSeq: 5 }))).rejects.toSatisfy(isTampered);
    });

    it("an append whose entryId a planted id: row claims refuses loudly instead of returning another entry", async () => {
      const w = await build(fixture);
      await w.raw.put("entries", pkA, `id:${escapeKey(step(A, 13).entryId)}`, { seq: 3 });
      const ledger = w.ledger();
      await expect(ledger.append(step(A, 13))).rejects.toSatisfy(isTampered);
      await expect(ledger.byEntryId(A, step(A, 13).entryId)).rejects.toSatisfy(isTampered);
      expect((await collect(ledger.entries(A))).length).toBe(12);
    });

    it("an append on a chain whose head row was rewound refuses at once instead of retrying until it gives up", async () => {
      const w = await build(fixture);
      const e8 = await entryAt(w, pkA, 8);
      await w.raw.put("entries", pkA, "head", { keyId: A, at: e8.at, seq: 8, hash: e8.hash });
      await expect(w.ledger().append(step(A, 13))).rejects.toSatisfy(isTampered);
    });

    it("an append on a chain whose head row names another hash refuses instead of linking to it", async () => {
      const w = await build(fixture);
      await w.raw.put("entries", pkA, "head", { ...(await w.raw.get("entries", pkA, "head")), hash: "f".repeat(64) });
      await expect(w.ledger().append(step(A, 13))).rejects.toSatisfy(isTampered);
      expect(await w.raw.get("entries", pkA, rk(13))).toBeUndefined();
    });

    it("the newest seal deleted with the seal head row rewound is caught against a seal exported outside the account", async () => {
      const w = await build(fixture);
      const exported = await w.ledger().latestSeal();
      await w.raw.del("seals", "seal", rk(2));
      await w.raw.put("seals", "seal", "head", { ...(await w.raw.get("seals", "seal", "head")), seq: 1, hash: (await w.raw.get("seals", "seal", rk(1)))!.hash });
      expect((await w.ledger().verify()).ok).toBe(true); // nothing inside the account is left to tell
      const anchor = { sealSeq: exported!.sealSeq, hash: exported!.hash };
      expect((await w.ledger().verify({ anchor })).firstBreak).toMatchObject({ keyId: SEAL_CHAIN_ID, seq: 2, problem: "truncatedAfterSeal" });
    });

    it("a seal replaced by a well-formed one is caught against its exported hash", async () => {
      const w = await build(fixture);
      const exported = (await w.ledger().latestSeal())!;
      await w.raw.put("seals", "seal", rk(2), { ...(await w.raw.get("seals", "seal", rk(2))), hash: "e".repeat(64) });
      const result = await w.ledger().verify({ anchor: { sealSeq: exported.sealSeq, hash: exported.hash } });
      expect(result.breaks).toContainEqual(expect.objectContaining({ keyId: SEAL_CHAIN_ID, seq: 2, problem: "hashMismatch", detail: expect.stringContaining("exported") }));
    });

    it("a sealed chain whose registry row was deleted is still sealed", async () => {
      const w = await build(fixture);
      await w.raw.del("seals", "chain", pkB);
      const seal = await w.ledger().seal();
      expect(seal.heads.map((h) => h.keyId).sort()).toEqual([B, A].sort());
    });

    it("seals() refuses a forged seal row instead of returning it", async () => {
      const w = await build(fixture);
      await w.raw.put("seals", "seal", `${rk(1)}b`, (await w.raw.get("seals", "seal", rk(1)))!);
      await expect((async () => {
        for await (const _ of w.ledger().seals()) { /* read all */ }
      })()).rejects.toSatisfy(isTampered);
    });
  });
}
