// GET /api/evidence signs the pack's manifest with the ledger's seal key (the API holds it), so the
// files the CLI writes from the answer verify offline with the seal's public key alone.
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvidencePack } from "../../../lib/ledger/evidence";
import { writeEvidencePack } from "../../../lib/ledger/evidence";
import { manifestDigest, type EvidenceManifest } from "../../../lib/ledger/evidenceSeal";
import { AUDITOR, seedKey, startApiHost, type ApiHost } from "./support";

let h: ApiHost;
let dir = "";
beforeAll(async () => {
  h = await startApiHost();
  await seedKey(h.mem, "kek", "tenant-kek");
  dir = mkdtempSync(path.join(tmpdir(), "keyrotor-evidence-signed-"));
});
afterAll(async () => {
  await h.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("GET /api/evidence", () => {
  it("answers with the manifest signed by the seal key, and the written manifest's signature verifies", async () => {
    const r = await h.call("GET", "/api/evidence?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z", { as: AUDITOR });
    expect(r.status).toBe(200);
    const pack = JSON.parse(r.body) as EvidencePack;
    const signer = h.mem.rotation.ledger.manifestSigner()!;
    expect(pack.manifestSignature).toMatchObject({ kid: signer.kid, alg: signer.alg });
    await writeEvidencePack(dir, pack);
    const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as EvidenceManifest;
    const sig = manifest.signature!;
    expect(await signer.verify(manifestDigest(manifest), Buffer.from(sig.value, "base64url"), sig.kid, sig.alg)).toBe(true);
    expect(JSON.parse(await readFile(path.join(dir, "evidence.json"), "utf8"))).not.toHaveProperty("manifestSignature");
  });
});
