// `keyrotor evidence` through the API: GET /api/evidence answers a pack too slow for Azure's 230 s
// HTTP limit in pages (202 with a continuation, lib/api/evidenceExport.ts); the last call answers
// the whole signed pack. The CLI asks again with each continuation until the pack comes.
import type { EvidencePack } from "../ledger/evidence";
import { CliError } from "./client";

export interface EvidencePageBody {
  complete: false;
  continuation: string;
  progress?: { phase?: string; keysDone?: number; chainsVerified?: number; entriesVerified?: number };
}

/** More pages than this means the server makes no progress: stop rather than loop for ever. */
export const MAX_EVIDENCE_PAGES = 10_000;

export async function evidenceThroughApi(
  get: (path: string) => Promise<EvidencePack | EvidencePageBody>,
  query: { from: string; to: string; label?: string | undefined },
  onPage?: (page: EvidencePageBody) => void,
): Promise<EvidencePack> {
  const params = { from: query.from, to: query.to, ...(query.label !== undefined ? { label: query.label } : {}) };
  let body = await get(`/api/evidence?${new URLSearchParams(params).toString()}`);
  for (let pages = 1; "continuation" in body && (body as Partial<EvidencePageBody>).complete === false; pages++) {
    onPage?.(body);
    if (pages >= MAX_EVIDENCE_PAGES) throw new CliError(`evidence: no pack after ${pages} pages; the export does not progress`, 2);
    body = await get(`/api/evidence?${new URLSearchParams({ ...params, continuation: body.continuation }).toString()}`);
  }
  return body as EvidencePack;
}
