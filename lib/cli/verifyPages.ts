// `keyrotor ledger verify` through the API: GET /api/ledger/verify answers a ledger too large for
// Azure's 230 s HTTP limit page by page (202 with a continuation, lib/api/queries.ts
// verifyLedgerWithin). The CLI follows the continuations and adds the pages up into the one answer
// a full verify gives: chain breaks are each page's own; the seal chain is re-read by every page, so
// its breaks repeat and are counted once.
import type { LedgerBreak, LedgerVerification } from "../ports";

export type VerifyPageBody = Omit<LedgerVerification, "ok"> & { ok: boolean | null; continuation?: string };

export async function verifyThroughApi(get: (path: string) => Promise<VerifyPageBody>, onPage?: (page: VerifyPageBody) => void): Promise<LedgerVerification> {
  let page = await get("/api/ledger/verify");
  onPage?.(page);
  if (page.continuation === undefined) return { ...page, ok: page.ok === true };
  let chains = 0, entries = 0;
  const breaks: LedgerBreak[] = [];
  const known = new Set<string>();
  for (;;) {
    chains += page.chains;
    entries += page.entries;
    for (const b of page.breaks ?? []) {
      const k = JSON.stringify(b);
      if (!known.has(k)) {
        known.add(k);
        breaks.push(b);
      }
    }
    if (page.continuation === undefined) break;
    page = await get(`/api/ledger/verify?continuation=${encodeURIComponent(page.continuation)}`);
    onPage?.(page);
  }
  const { continuation: _c, breaks: _b, firstBreak: _f, ok: _ok, ...last } = page;
  return { ...last, ok: breaks.length === 0, chains, entries, ...(breaks[0] ? { firstBreak: breaks[0], breaks } : {}) };
}
