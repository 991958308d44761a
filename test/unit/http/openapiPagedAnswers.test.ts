// The OpenAPI document describes the paged answers of the two reads that outlast Azure's 230 s:
// GET /api/ledger/verify and GET /api/evidence answer 202 with a continuation, and the last page of
// a paged verify answers 200 with ok null when its pages found no break (real answers, validated).
import { describe, expect, it } from "vitest";
import { evidenceWithin } from "../../../lib/api/evidenceExport";
import { verifyLedgerWithin } from "../../../lib/api/queries";
import { memoryApiServices } from "../../../lib/api/services";
import { openApiDocument } from "../../../lib/http/openapi";
import { step } from "../ledger/ledgerContract";
import { responseMismatch } from "./openapiResponseSchemas";

async function services() {
  const mem = memoryApiServices({ clock: { now: () => new Date("2026-03-01T00:00:00.000Z") } });
  for (const k of ["kek:vault-a/k1", "kek:vault-a/k2", "kek:vault-b/k3"]) for (let i = 1; i <= 2; i++) await mem.services.ledger.append(step(k, i));
  return mem.services;
}

describe("OpenAPI: paged answers", () => {
  it("a paged ledger verify's 202 pages and its last 200 page validate", async () => {
    const s = await services();
    const first = await verifyLedgerWithin(s, {}, 0);
    expect(first.continuation).toBeDefined();
    expect(responseMismatch("verifyLedger", 202, first)).toBeUndefined();
    let page = first;
    while (page.continuation !== undefined) page = await verifyLedgerWithin(s, { continuation: page.continuation }, 0);
    expect(page.ok).toBeNull();
    expect(responseMismatch("verifyLedger", 200, page)).toBeUndefined();
    expect(responseMismatch("verifyLedger", 200, await verifyLedgerWithin(s, {}, 60_000))).toBeUndefined();
  });

  it("an evidence export's 202 page validates, and the continuation parameters are declared", async () => {
    const s = await services();
    const answer = await evidenceWithin(s, { from: "2026-01-01T00:00:00Z", to: "2026-04-01T00:00:00Z" }, 0);
    if (!("page" in answer)) throw new Error("expected a page");
    expect(responseMismatch("getEvidence", 202, answer.page)).toBeUndefined();
    const paths = (openApiDocument() as { paths: Record<string, { get: { parameters: { name: string }[] } }> }).paths;
    expect(paths["/api/evidence"]!.get.parameters.map((p) => p.name)).toContain("continuation");
    expect(paths["/api/ledger/verify"]!.get.parameters.map((p) => p.name)).toContain("continuation");
  });
});
