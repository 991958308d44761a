// The API and rollback read history through ledger.entries(): a forged row in a chain partition
// (here a Promoted entry under a RowKey that is not a sequence number, hash-valid and linked) is
// refused loudly, and a rollback never acts on it.
import { afterEach, describe, expect, it } from "vitest";
import { buildEntry, entryToRow } from "../../../lib/ledger/entry";
import type { LedgerOptions } from "../../../lib/ledger";
import type { MemoryRowStore } from "../../../lib/ledger/rowStore";
import { escapeKey } from "../../../lib/stores/tables";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { AUDITOR, chain, OPERATOR, seedKey, startApiHost, T0, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const rk = (seq: number) => String(seq).padStart(12, "0");

describe("reading a tampered ledger through the API", () => {
  it("GET /api/ledger and a rollback refuse a chain holding a forged Promoted entry; nothing starts", async () => {
    h = await startApiHost();
    await h.mem.policies.put({ policyId: "monthly", tenant: "platform", kinds: ["kek"], schedule: { every: "P30D" }, expiresAfter: "P120D", overlap: "P7D", rollbackWindow: "P1D" }, undefined);
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "monthly", lastRotatedAt: T0 });
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "manual rotation", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(r.json().rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    await h.host.idle();
    const v2 = (await h.mem.rotation.inventory.get(keyId))!.key.primaryVersion!;
    const entries = await chain(h.mem, keyId);
    const last = entries.at(-1)!;

    // What an attacker with write access to the table does (the memory store stands for it).
    const store = (h.mem.rotation.ledger as unknown as { opts: LedgerOptions }).opts.entries as MemoryRowStore;
    const forgedRotation = `${keyId}@forged`;
    const forged = buildEntry({ keyId, entryId: `${forgedRotation}#promoted`, type: "Promoted", actor: "mallory", rotationId: forgedRotation, versionBefore: v1, versionAfter: v2 }, last.seq + 1, last.hash, new Date(h.clock.now()).toISOString());
    store.tamper(escapeKey(keyId), `${rk(last.seq)}a`, entryToRow(forged));

    const read = await h.call("GET", `/api/ledger/${keyId}`, { as: AUDITOR });
    expect(read.status).toBe(500);
    expect(read.json().error.code).toBe("LedgerTampered");

    const rollback = await h.call("POST", `/api/rotations/rollback/${encodeURIComponent(forgedRotation)}`, { as: OPERATOR, body: { reason: "roll back the forged rotation" } });
    expect(rollback.status).toBe(500);
    expect(rollback.json().error.code).toBe("LedgerTampered");
    expect((await h.mem.rotation.inventory.get(keyId))!.key.primaryVersion).toBe(v2);

    const verify = await h.call("GET", "/api/ledger/verify", { as: AUDITOR });
    expect(verify.json()).toMatchObject({ ok: false, firstBreak: { keyId, seq: last.seq, problem: "strayRow" } });
  });
});
