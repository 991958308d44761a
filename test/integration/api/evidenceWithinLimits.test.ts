// A paged evidence export over Table Storage (Azurite): its place and parts kept in the locks table
// between calls, so any instance can take the next call. With a zero budget (one key, then one chain
// per call) the pack is the one-shot pack, two calls continuing the same place cannot both succeed,
// and a finished export leaves no rows.
import { describe, expect, it } from "vitest";
import { evidenceWithin, type EvidenceAnswer } from "../../../lib/api/evidenceExport";
import { evidence } from "../../../lib/api/queries";
import { memoryApiServices } from "../../../lib/api/services";
import { RotationConflictError } from "../../../lib/domain/errors";
import { ephemeralSealSigner, tableLedger } from "../../../lib/ledger";
import type { EvidencePack } from "../../../lib/ledger/evidence";
import { CHUNK_CHARS, TableEvidenceExportStore, type EvidenceExport } from "../../../lib/ledger/evidenceCheckpoint";
import { freshTable } from "../../support/tables";

const T0 = "2026-03-01T00:00:00.000Z";
const KEYS = ["kek:vault-a/k1", "kek:vault-a/k2", "kek:vault-b/k3", "signing:vault-b/s4"];
const QUERY = { from: "2026-01-01T00:00:00.000Z", to: "2026-04-01T00:00:00.000Z" };

async function world() {
  const ledger = tableLedger({ entries: await freshTable("ledger"), seals: await freshTable("seals"), signer: ephemeralSealSigner() });
  const mem = memoryApiServices({ clock: { now: () => new Date(T0) } });
  for (const [i, keyId] of KEYS.entries()) {
    const [kind, rest] = keyId.split(":") as [string, string];
    const [vault, name] = rest.split("/") as [string, string];
    const v1 = mem.rotation.vault.seedKey(vault, name, kind === "kek" ? "wrap" : "sign");
    await mem.rotation.inventory.put({ keyId, kind: kind as "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: "2025-06-01T00:00:00.000Z" }] }, undefined);
    const rotationId = `${keyId}@manual:2026-02-0${i + 1}`;
    for (const type of ["RotationRequested", "Completed"] as const) {
      await ledger.append({ keyId, entryId: `${rotationId}#${type}`, type, rotationId, trigger: "manual", actor: "olivia", reason: "quarterly rotation by hand", at: `2026-02-0${i + 1}T10:00:00.000Z` });
    }
  }
  // A chain of a key the inventory does not list.
  await ledger.append({ keyId: "kek:vault-c/gone", entryId: "gone#1", type: "RotationRequested", rotationId: "kek:vault-c/gone@manual:x", actor: "olivia", at: "2026-01-05T00:00:00.000Z" });
  await ledger.seal();
  const locks = await freshTable("locks");
  const store = new TableEvidenceExportStore(locks);
  return { services: { ...mem.services, ledger, evidenceExports: store }, locks, store };
}

type World = Awaited<ReturnType<typeof world>>;

async function pageThrough(w: World): Promise<{ pages: number; pack: EvidencePack }> {
  let answer: EvidenceAnswer = await evidenceWithin(w.services, QUERY, 0);
  let pages = 1;
  while ("page" in answer && pages < 50) {
    answer = await evidenceWithin(w.services, { ...QUERY, continuation: answer.page.continuation }, 0);
    pages++;
  }
  if ("page" in answer) throw new Error("the export never ended");
  return { pages, pack: answer.pack };
}

async function rowsOf(w: World): Promise<number> {
  let n = 0;
  for await (const _ of w.locks.listEntities()) n++;
  return n;
}

describe("evidence export in pages over Table Storage", () => {
  it("with a zero budget takes one key, then one chain per call, and assembles the one-shot pack; it leaves no rows", async () => {
    const w = await world();
    const oneShot = await evidence(w.services, QUERY);
    const { pages, pack } = await pageThrough(w);
    // One call per key, then one per chain (four keys and the stray chain).
    expect(pages).toBe(KEYS.length + KEYS.length + 1);
    expect(pack).toEqual({ ...oneShot, verification: { ...oneShot.verification, verifiedAt: pack.verification.verifiedAt } });
    expect(pack.keysNotInInventory).toEqual(["kek:vault-c/gone"]);
    expect(pack.rotations).toHaveLength(KEYS.length);
    expect(await rowsOf(w)).toBe(0);
  });

  it("refuses a second call continuing from the same place (the first one moved it on)", async () => {
    const w = await world();
    const first = await evidenceWithin(w.services, QUERY, 0);
    if (!("page" in first)) throw new Error("expected a page");
    const found = (await w.store.read(first.page.continuation))!;
    await evidenceWithin(w.services, { ...QUERY, continuation: first.page.continuation }, 0);
    await expect(w.store.save(found.state, found.etag, [])).rejects.toThrow(RotationConflictError);
  });

  it("keeps a part larger than one Table property across several rows", async () => {
    const w = await world();
    const state: EvidenceExport = { exportId: "00000000-0000-4000-8000-000000000001", period: QUERY, generatedAt: T0, phase: "keys", keysDone: 0, verify: { pages: 0, chains: 0, entries: 0, breaks: [] }, parts: [] };
    const big = Array.from({ length: 3 * CHUNK_CHARS / 40 }, (_, i) => `kek:vault-z/key-${String(i).padStart(24, "0")}`);
    await w.store.save(state, undefined, [{ keysNotInInventory: big }, { keysNotInInventory: ["kek:vault-z/small"] }]);
    expect(state.parts.length).toBe(2);
    expect(state.parts[0]).toBeGreaterThan(1);
    const read = [];
    for await (const p of w.store.parts((await w.store.read(state.exportId))!.state)) read.push(p);
    expect(read).toEqual([{ keysNotInInventory: big }, { keysNotInInventory: ["kek:vault-z/small"] }]);
    await w.store.remove(state.exportId);
    expect(await w.store.read(state.exportId)).toBeUndefined();
  });
});
