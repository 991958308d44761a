// GET /api/evidence within Azure's limits: a pack over a multi-year ledger reads every key's chain
// and verifies the whole ledger, which outlasts the 230 s Azure gives an HTTP response. So the export
// runs in pages, like GET /api/ledger/verify: each call works for the HTTP budget, keeps its place
// and its parts in storage (lib/ledger/evidenceCheckpoint.ts; any instance may take the next call)
// and answers 202 with a continuation; the call that finishes assembles, signs and returns the pack
// (200), the same pack a one-shot export gives. First the keys' sections, a few keys per page in
// keyId order, then the verify pages (lib/ledger/verify.ts VerifyPage), then the seals and the pack.
// Every call makes progress (at least one key or one chain) whatever its budget.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { InvalidRequestError } from "../domain/errors";
import { assembleEvidencePack, evidenceAsOf, keySection, periodSeals, type EvidenceKey, type EvidencePack, type KeySection } from "../ledger/evidence";
import type { EvidenceExport, EvidencePart } from "../ledger/evidenceCheckpoint";
import { MAX_CARRIED_BREAKS } from "../ledger/verifyCheckpoint";
import type { LedgerBreak, LedgerVerification } from "../ports";
import type { ApiServices } from "./ports";
import { evidence, evidencePolicy, HTTP_VERIFY_BUDGET_MS, type EvidenceQuery } from "./queries";

/** How long an unfinished export can be continued. */
export const EXPORT_TTL_MS = 24 * 3_600_000;

/** A 202 answer: the export goes on at `continuation`. */
export interface EvidencePage {
  complete: false;
  continuation: string;
  period: EvidenceExport["period"];
  progress: { phase: EvidenceExport["phase"]; keysDone: number; chainsVerified: number; entriesVerified: number };
}

export type EvidenceAnswer = { pack: EvidencePack } | { page: EvidencePage };

async function inventoryKeys(s: ApiServices): Promise<EvidenceKey[]> {
  const keys: EvidenceKey[] = [];
  for await (const { key } of s.inventory.list()) {
    keys.push({ keyId: key.keyId, tenant: key.tenant, ...(key.policyId ? { policyId: key.policyId } : {}), ...(key.versions[0] ? { createdAt: key.versions[0].createdAt } : {}) });
  }
  return keys.sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
}

function periodOf(q: z.output<typeof EvidenceQuery>): EvidenceExport["period"] {
  const from = new Date(q.from).toISOString();
  const to = new Date(q.to).toISOString();
  if (to <= from) throw new InvalidRequestError("PeriodInvalid", "to must be after from", { field: "to" });
  return { from, to, ...(q.label ? { label: q.label } : {}) };
}

const samePeriod = (a: EvidenceExport["period"], b: EvidenceExport["period"]) => a.from === b.from && a.to === b.to && a.label === b.label;

/**
 * One call of an evidence export: the pack when it is done within `budgetMs` (measured by
 * `elapsed`), else a page to continue from. Without an export store in the services the pack is
 * built in one call, as before.
 */
export async function evidenceWithin(s: ApiServices, q: z.output<typeof EvidenceQuery>, budgetMs = s.settings.httpBudgetMs ?? HTTP_VERIFY_BUDGET_MS, elapsed?: () => number): Promise<EvidenceAnswer> {
  const started = Date.now();
  const spent = elapsed ?? (() => Date.now() - started);
  const period = periodOf(q);
  const store = s.evidenceExports;
  if (!store) {
    if (q.continuation !== undefined) throw new InvalidRequestError("ContinuationUnknown", "this API builds evidence in one call: no continuation to follow", { field: "continuation" });
    return { pack: await evidence(s, q) };
  }

  let state: EvidenceExport;
  let etag: string | undefined;
  if (q.continuation === undefined) {
    state = { exportId: randomUUID(), period, generatedAt: s.clock.now().toISOString(), phase: "keys", keysDone: 0, verify: { pages: 0, chains: 0, entries: 0, breaks: [] }, parts: [] };
  } else {
    const found = await store.read(q.continuation);
    if (!found || s.clock.now().getTime() - found.updatedAt.getTime() > EXPORT_TTL_MS) {
      throw new InvalidRequestError("ContinuationUnknown", `no evidence export ${q.continuation} in progress (finished, or unused for more than 24 h): start again without continuation`, { status: 404, field: "continuation" });
    }
    if (!samePeriod(found.state.period, period)) {
      throw new InvalidRequestError("ContinuationMismatch", `continuation ${q.continuation} exports ${found.state.period.from} .. ${found.state.period.to}${found.state.period.label ? ` (${found.state.period.label})` : ""}: ask with the same from, to and label`, { field: "continuation" });
    }
    ({ state, etag } = found);
  }
  const asOf = evidenceAsOf(period, new Date(state.generatedAt));
  const out = (): EvidencePage => ({
    complete: false, continuation: state.exportId, period: state.period,
    progress: { phase: state.phase, keysDone: state.keysDone, chainsVerified: state.verify.chains, entriesVerified: state.verify.entries },
  });
  // Parts built by this call: stored only when the call ends with a page (a pack done in one call
  // writes nothing).
  const fresh: EvidencePart[] = [];
  const page = async (): Promise<EvidenceAnswer> => {
    etag = await store.save(state, etag, fresh.splice(0));
    return { page: out() };
  };
  let progressed = false;

  if (state.phase === "keys") {
    const keys = await inventoryKeys(s);
    const policies = new Map((await s.policies.all()).map((p) => [p.policyId, evidencePolicy(p)]));
    const sections: KeySection[] = [];
    const todo = keys.filter((k) => state.keyCursor === undefined || k.keyId > state.keyCursor);
    for (const key of todo) {
      sections.push(await keySection(s.ledger, key, key.policyId !== undefined ? policies.get(key.policyId) : undefined, period, asOf));
      state.keyCursor = key.keyId;
      state.keysDone += 1;
      progressed = true;
      if (spent() >= budgetMs) break;
    }
    if (sections.length) fresh.push({ sections });
    if (sections.length < todo.length) return page();
    const inventory = new Set(keys.map((k) => k.keyId));
    const keysNotInInventory: string[] = [];
    for await (const k of s.ledger.chainIds()) if (!inventory.has(k)) keysNotInInventory.push(k);
    fresh.push({ keysNotInInventory });
    state.phase = "verify";
  }

  if (progressed && spent() >= budgetMs) return page();
  const v = await s.ledger.verify({ page: { from: state.verify.cursor, stop: () => spent() >= budgetMs } });
  addPage(state.verify, v);
  if (v.continuation !== undefined) {
    state.verify.cursor = v.continuation;
    return page();
  }

  const { breaks } = state.verify;
  const { continuation: _c, breaks: _b, firstBreak: _f, ok: _ok, chains: _ch, entries: _e, ...last } = v;
  const verification: LedgerVerification = { ...last, ok: breaks.length === 0, chains: state.verify.chains, entries: state.verify.entries, ...(breaks[0] ? { firstBreak: breaks[0], breaks } : {}) };
  const parts: EvidencePart[] = [];
  if (etag !== undefined) for await (const part of store.parts(state)) parts.push(part);
  parts.push(...fresh);
  const pack = assembleEvidencePack({
    period, now: new Date(state.generatedAt), retention: s.settings.ledgerRetention, policies: (await s.policies.all()).map(evidencePolicy),
    sections: parts.flatMap((p) => p.sections ?? []), keysNotInInventory: parts.flatMap((p) => p.keysNotInInventory ?? []), verification,
    seals: await periodSeals(s.ledger, period),
  });
  if (etag !== undefined) await store.remove(state.exportId);
  return { pack };
}

/** Adds a verify page to the export's running totals. The seal chain is re-read by every page, so
 * its breaks repeat and are counted once; the breaks carried are capped (the first decides `ok`). */
function addPage(acc: EvidenceExport["verify"], page: LedgerVerification): void {
  acc.pages += 1;
  acc.chains += page.chains;
  acc.entries += page.entries;
  const known = new Set(acc.breaks.map((b) => JSON.stringify(b)));
  for (const b of page.breaks ?? (page.firstBreak ? [page.firstBreak] : [])) {
    const k = JSON.stringify(b satisfies LedgerBreak);
    if (!known.has(k) && acc.breaks.length < MAX_CARRIED_BREAKS) {
      known.add(k);
      acc.breaks.push(b);
    }
  }
}
