// `keyrotor ledger verify` through the API follows the continuations of a paged verify and adds the
// pages up into the full answer (a page without a break is not "ok" for the whole ledger).
import { describe, expect, it } from "vitest";
import { verifyThroughApi, type VerifyPageBody } from "../../../lib/cli/verifyPages";

const sealBreak = { keyId: "seal", seq: 3, problem: "badSealSignature" as const, detail: "x" };
const page = (o: Partial<VerifyPageBody>): VerifyPageBody => ({ ok: null, chains: 1, entries: 10, seals: 5, verifiedAt: "2026-01-01T00:00:00.000Z", ...o });

describe("ledger verify through a paged API", () => {
  it("returns a complete answer as it is", async () => {
    const v = await verifyThroughApi(async () => page({ ok: true, chains: 3, entries: 30 }));
    expect(v).toMatchObject({ ok: true, chains: 3, entries: 30 });
  });

  it("follows every continuation and adds the pages up, counting the seal chain's breaks once", async () => {
    const asked: string[] = [];
    const pages: Record<string, VerifyPageBody> = {
      "/api/ledger/verify": page({ continuation: "kek:a" }),
      "/api/ledger/verify?continuation=kek%3Aa": page({ ok: false, continuation: "kek:b", breaks: [sealBreak, { keyId: "kek:a", seq: 2, problem: "hashMismatch", detail: "y" }], firstBreak: sealBreak }),
      "/api/ledger/verify?continuation=kek%3Ab": page({ ok: false, breaks: [sealBreak], firstBreak: sealBreak }),
    };
    const v = await verifyThroughApi(async (path) => {
      asked.push(path);
      const p = pages[path];
      if (!p) throw new Error(`unexpected ${path}`);
      return p;
    });
    expect(asked).toEqual(Object.keys(pages));
    expect(v).toMatchObject({ ok: false, chains: 3, entries: 30, firstBreak: sealBreak });
    expect(v.breaks).toHaveLength(2);
  });

  it("says ok only when no page found a break", async () => {
    const v = await verifyThroughApi(async (path) => (path.includes("continuation") ? page({ ok: null }) : page({ continuation: "x" })));
    expect(v.ok).toBe(true);
    expect(v.chains).toBe(2);
  });
});
