// GET /api/evidence over a ledger too slow to export within the front end's cut (Azure: 230 s; here
// the local host's limit is scaled down to 700 ms and the app's HTTP budget to 100 ms): every answer
// comes before the cut (202 pages with a continuation, then 200 with the signed pack), and the pack
// the CLI assembles by following the continuations is the one-shot pack. The ledger is made slow by
// a delay on every chain read, standing in for a multi-year chain read page by page from Table Storage.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiLedger } from "../../../lib/api/ports";
import { evidenceThroughApi, type EvidencePageBody } from "../../../lib/cli/evidencePages";
import { buildEvidencePack, type EvidencePack } from "../../../lib/ledger/evidence";
import { evidencePolicy } from "../../../lib/api/queries";
import { evidenceContents } from "../../../lib/ledger/evidenceFormat";
import { manifestDigest, manifestFor } from "../../../lib/ledger/evidenceSeal";
import { AUDITOR, seedKey, startApiHost, T0, type ApiHost } from "./support";

const CUT_MS = 700;
const CHAIN_READ_MS = 90;
const KEYS = 12; // 12 chains x 90 ms: a one-shot export takes longer than the cut
const PERIOD = "from=2026-01-01T00:00:00.000Z&to=2026-04-01T00:00:00.000Z";

let h: ApiHost;
let fast: ApiLedger;
const keyIds: string[] = [];

function slow(inner: ApiLedger): ApiLedger {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "entries") {
        return async function* entries(keyId: string) {
          await new Promise((r) => setTimeout(r, CHAIN_READ_MS));
          yield* target.entries(keyId);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

beforeAll(async () => {
  h = await startApiHost({ httpResponseTimeoutMs: CUT_MS });
  for (let i = 0; i < KEYS; i++) {
    const { keyId } = await seedKey(h.mem, "kek", `kek-${String(i).padStart(2, "0")}`);
    keyIds.push(keyId);
    const rotationId = `${keyId}@manual:2026-02-0${(i % 9) + 1}`;
    for (const [n, type] of (["RotationRequested", "VersionCreated", "Completed"] as const).entries()) {
      await h.mem.services.ledger.append({ keyId, entryId: `${rotationId}#${type}`, type, rotationId, trigger: "manual", actor: "olivia", reason: "quarterly rotation by hand", at: `2026-02-0${(i % 9) + 1}T10:0${n}:00.000Z`, ...(type !== "RotationRequested" ? { versionAfter: `v${i}` } : {}) });
    }
  }
  await h.mem.services.ledger.seal();
  fast = h.mem.services.ledger;
  h.mem.services.ledger = slow(fast);
  h.mem.services.settings.httpBudgetMs = 100;
}, 60_000);
afterAll(async () => {
  await h?.stop();
});

describe("GET /api/evidence within the front end's time limit", () => {
  it("answers 202 pages with a continuation and then the signed pack, each before the cut; the pack is the one-shot pack", async () => {
    const statuses: number[] = [];
    const pages: EvidencePageBody[] = [];
    const pack = await evidenceThroughApi(async (path) => {
      const t0 = Date.now();
      const r = await h.call("GET", path, { as: AUDITOR });
      statuses.push(r.status);
      expect(Date.now() - t0).toBeLessThan(CUT_MS);
      if (r.status !== 200 && r.status !== 202) throw new Error(`GET ${path} → ${r.status} ${r.body.slice(0, 200)}`);
      return JSON.parse(r.body) as EvidencePack | EvidencePageBody;
    }, { from: "2026-01-01T00:00:00.000Z", to: "2026-04-01T00:00:00.000Z" }, (p) => pages.push(p));

    expect(statuses.at(-1)).toBe(200);
    expect(statuses.slice(0, -1).every((s) => s === 202)).toBe(true);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(new Set(pages.map((p) => p.continuation)).size).toBe(1);
    // Each page moves on (a call makes progress whatever its budget); which call finishes the keys depends on timing.
    const done = pages.map((p) => p.progress!.keysDone! + p.progress!.chainsVerified!);
    expect(done.every((n, i) => i === 0 || n > done[i - 1]!)).toBe(true);
    expect(pack.compliance).toHaveLength(KEYS);

    const oneShot = await buildEvidencePack({
      ledger: fast, period: { from: "2026-01-01T00:00:00.000Z", to: "2026-04-01T00:00:00.000Z" }, policies: (await h.mem.policies.all()).map(evidencePolicy), now: new Date(T0), retention: "P7Y",
      keys: keyIds.map((keyId) => ({ keyId, tenant: "platform", createdAt: T0, policyId: "platform-default" })),
    });
    const { manifestSignature, ...paged } = pack;
    expect(paged).toEqual({ ...oneShot, verification: { ...oneShot.verification, verifiedAt: paged.verification.verifiedAt } });
    expect(pack.rotations).toHaveLength(KEYS);
    expect(pack.verification).toMatchObject({ ok: true, chains: oneShot.verification.chains, entries: oneShot.verification.entries });
    // Signed over the assembled pack's files, as a one-shot pack is.
    const signer = h.mem.rotation.ledger.manifestSigner()!;
    expect(await signer.verify(manifestDigest(manifestFor(pack, evidenceContents(pack))), Buffer.from(manifestSignature!.value, "base64url"), manifestSignature!.kid, manifestSignature!.alg)).toBe(true);
  }, 60_000);

  it("a finished export's continuation is gone (404), and a continuation asked for another period is refused (400)", async () => {
    const first = await h.call("GET", `/api/evidence?${PERIOD}`, { as: AUDITOR });
    expect(first.status).toBe(202);
    const { continuation } = JSON.parse(first.body) as EvidencePageBody;
    const other = await h.call("GET", `/api/evidence?from=2025-01-01T00:00:00.000Z&to=2026-04-01T00:00:00.000Z&continuation=${continuation}`, { as: AUDITOR });
    expect(other.status).toBe(400);
    expect(other.json().error.code).toBe("ContinuationMismatch");
    let r = first;
    while (r.status === 202) r = await h.call("GET", `/api/evidence?${PERIOD}&continuation=${continuation}`, { as: AUDITOR });
    expect(r.status).toBe(200);
    const again = await h.call("GET", `/api/evidence?${PERIOD}&continuation=${continuation}`, { as: AUDITOR });
    expect(again.status).toBe(404);
    expect(again.json().error.code).toBe("ContinuationUnknown");
  }, 60_000);
});
