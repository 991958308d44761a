// The hourly audit over a ledger too large for one invocation: a sweep of pages, each within a time
// budget, its place kept in Table Storage; the sweep's answer is the one full verify gives, and the
// checkpoint never lets a tampered row through (every sweep re-hashes every chain).
import { describe, expect, it } from "vitest";
import { runLedgerAudit, type LedgerAuditReport } from "../../../lib/api/ledgerAudit";
import { VerifyQuery, verifyLedgerWithin, type HttpVerification } from "../../../lib/api/queries";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { validate } from "../../../lib/http/api";
import { memoryApiServices } from "../../../lib/api/services";
import { ephemeralSealSigner, tableLedger } from "../../../lib/ledger";
import { TableAuditCheckpointStore } from "../../../lib/ledger/verifyCheckpoint";
import { escapeKey } from "../../../lib/stores/tables";
import { freshTable } from "../../support/tables";
import { step } from "../../unit/ledger/ledgerContract";

const KEYS = ["kek:vault-a/k1", "kek:vault-a/k2", "kek:vault-b/k3", "signing:vault-b/s4"];
const ENTRIES_PER_CHAIN = 3;

async function world() {
  const entries = await freshTable("ledger");
  const seals = await freshTable("seals");
  const ledger = tableLedger({ entries, seals, signer: ephemeralSealSigner() });
  for (const k of KEYS) for (let i = 1; i <= ENTRIES_PER_CHAIN; i++) await ledger.append(step(k, i));
  const { services } = memoryApiServices();
  const checkpoints = new TableAuditCheckpointStore(await freshTable("locks"));
  return { services: { ...services, ledger }, ledger, entries, checkpoints };
}

type World = Awaited<ReturnType<typeof world>>;

/** Runs the audit with a zero budget (one chain per run) until the sweep ends. */
async function sweep(w: World): Promise<{ runs: LedgerAuditReport[]; final: LedgerAuditReport }> {
  const runs: LedgerAuditReport[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await runLedgerAudit(w.services, { checkpoints: w.checkpoints, budgetMs: 0 });
    runs.push(r);
    if (r.continuation === undefined) return { runs, final: r };
  }
  throw new Error("the sweep never ended");
}

async function sealCount(ledger: { seals(): AsyncIterable<unknown> }): Promise<number> {
  let n = 0;
  for await (const _ of ledger.seals()) n++;
  return n;
}

const tamper = (w: World, keyId: string, seq: number) =>
  w.entries.updateEntity({ partitionKey: escapeKey(keyId), rowKey: String(seq).padStart(12, "0"), actor: "mallory" }, "Merge");

describe("ledger audit within functionTimeout", () => {
  it("verifies one page per run within its budget and ends the sweep with the full verify's answer, then seals", async () => {
    const w = await world();
    const full = await w.ledger.verify();
    const { runs, final } = await sweep(w);
    expect(runs).toHaveLength(KEYS.length);
    expect(runs.slice(0, -1).every((r) => r.ok === null && r.sealSeq === undefined)).toBe(true);
    expect(final).toMatchObject({ ok: true, chains: full.chains, entries: full.entries, sealSeq: 1 });
    expect(await sealCount(w.ledger)).toBe(1);
    const { sweep: inProgress, last } = await w.checkpoints.read();
    expect(inProgress).toBeUndefined();
    expect(last).toMatchObject({ ok: true, chains: KEYS.length, entries: KEYS.length * ENTRIES_PER_CHAIN, pages: KEYS.length, sealSeq: 1 });
  });

  it("with a budget that is never reached, verifies the whole ledger in one run", async () => {
    const w = await world();
    const r = await runLedgerAudit(w.services, { checkpoints: w.checkpoints, budgetMs: 60_000 });
    expect(r).toMatchObject({ ok: true, chains: KEYS.length, entries: KEYS.length * ENTRIES_PER_CHAIN, sealSeq: 1 });
    expect(r.continuation).toBeUndefined();
  });

  it("reports a break as soon as its page finds it, carries it to the end of the sweep and writes no seal", async () => {
    const w = await world();
    await tamper(w, KEYS[0]!, 2);
    const full = await w.ledger.verify();
    const { runs, final } = await sweep(w);
    expect(runs[0]).toMatchObject({ ok: false, firstBreak: { keyId: KEYS[0], seq: 2, problem: "hashMismatch" } });
    expect(runs[0]!.continuation).toBeDefined();
    expect(final).toMatchObject({ ok: false, firstBreak: full.firstBreak });
    expect(final.sealSeq).toBeUndefined();
    expect(await sealCount(w.ledger)).toBe(0);
    expect((await w.checkpoints.read()).last).toMatchObject({ ok: false, firstBreak: { keyId: KEYS[0], seq: 2 } });
  });

  it("catches a sealed row tampered behind the cursor: the next sweep re-hashes every chain from the first", async () => {
    const w = await world();
    await w.ledger.seal();
    const first = await runLedgerAudit(w.services, { checkpoints: w.checkpoints, budgetMs: 0 });
    expect(first).toMatchObject({ ok: null, chains: 1 });
    // KEYS[0] is behind the cursor now: this sweep does not read it again.
    await tamper(w, KEYS[0]!, 1);
    const rest = await sweep(w);
    expect(rest.final.ok).toBe(true);
    const next = await sweep(w);
    expect(next.runs[0]).toMatchObject({ ok: false, firstBreak: { keyId: KEYS[0], seq: 1, problem: "hashMismatch" } });
    expect(next.final.ok).toBe(false);
    expect((await w.ledger.verify()).firstBreak).toMatchObject({ keyId: KEYS[0], seq: 1 });
  });

  it("reports a sealed chain deleted whole on the page that covers its place", async () => {
    const w = await world();
    await w.ledger.seal();
    const pk = escapeKey(KEYS[1]!);
    for await (const e of w.entries.listEntities({ queryOptions: { filter: `PartitionKey eq '${pk}'` } })) await w.entries.deleteEntity(pk, String(e.rowKey));
    const { final } = await sweep(w);
    expect(final).toMatchObject({ ok: false, firstBreak: { keyId: KEYS[1], problem: "chainMissing" } });
  });
});

describe("GET /api/ledger/verify within Azure's 230 s", () => {
  it("answers the whole-ledger result at once when it verifies within its budget", async () => {
    const w = await world();
    const v = await verifyLedgerWithin(w.services, {}, 60_000);
    expect(v).toMatchObject({ ok: true, complete: true, chains: KEYS.length, entries: KEYS.length * ENTRIES_PER_CHAIN });
    expect(v.continuation).toBeUndefined();
  });

  it("past its budget answers a page with a continuation; the pages' breaks together are the full verify's", async () => {
    const w = await world();
    await w.ledger.seal();
    await tamper(w, KEYS[2]!, 3);
    const full = await w.ledger.verify();
    const pages: HttpVerification[] = [];
    let continuation: string | undefined;
    do {
      const page = await verifyLedgerWithin(w.services, continuation === undefined ? {} : { continuation }, 0);
      pages.push(page);
      continuation = page.continuation;
    } while (continuation !== undefined && pages.length < 20);
    expect(pages).toHaveLength(KEYS.length);
    expect(pages[0]).toMatchObject({ ok: null, complete: false, chains: 1 });
    expect(pages[2]).toMatchObject({ ok: false, complete: false, firstBreak: { keyId: KEYS[2], seq: 3 } });
    expect(pages.every((p) => !p.complete)).toBe(true);
    expect(pages.reduce((n, p) => n + p.entries, 0)).toBe(full.entries);
    expect(pages.flatMap((p) => p.breaks ?? [])).toEqual(full.breaks);
  });

  it("reports a deleted sealed chain on exactly one page, the one covering its place", async () => {
    const w = await world();
    await w.ledger.seal();
    const pk = escapeKey(KEYS[1]!);
    for await (const e of w.entries.listEntities({ queryOptions: { filter: `PartitionKey eq '${pk}'` } })) await w.entries.deleteEntity(pk, String(e.rowKey));
    const full = await w.ledger.verify();
    const pages: HttpVerification[] = [];
    let continuation: string | undefined;
    do {
      const page = await verifyLedgerWithin(w.services, continuation === undefined ? {} : { continuation }, 0);
      pages.push(page);
      continuation = page.continuation;
    } while (continuation !== undefined && pages.length < 20);
    expect(pages.filter((p) => p.breaks?.some((b) => b.problem === "chainMissing"))).toHaveLength(1);
    expect(pages.flatMap((p) => p.breaks ?? [])).toEqual(full.breaks);
  });

  it("refuses an empty or unknown query parameter with 400", () => {
    expect(() => validate(VerifyQuery, { continuation: "" })).toThrow(InvalidRequestError);
    expect(() => validate(VerifyQuery, { full: "true" })).toThrow(InvalidRequestError);
  });
});
