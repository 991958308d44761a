import { beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { TableClient } from "@azure/data-tables";
import { DEK_RECORD_FORMAT, dekIdFor, MemoryKek, type DekRecord } from "../../../lib/envelope";
import { DekStore, PRIMARY_ROW, type RewrapFn, type StoredDek } from "../../../lib/stores/dekStore";
import { azuriteUrl, devstoreCredential, freshTable } from "../../support/tables";

const KEK = "kek:demo-vault/tenant-kek";
const kek = new MemoryKek();
let OLD: string;
let NEW: string;
/** Plaintexts by tenant/dekId, to prove every DEK still unwraps to what it was. */
const plain = new Map<string, Buffer>();

beforeAll(() => {
  OLD = kek.addVersion(KEK, "old0000000000000000000000000000a");
  NEW = kek.addVersion(KEK, "new0000000000000000000000000000b");
});

async function record(tenant: string, n: number, kekVersion = OLD): Promise<DekRecord> {
  const dek = randomBytes(32);
  plain.set(`${tenant}/${dekIdFor(n)}`, dek);
  return {
    format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(n), dekVersion: n, kekKeyId: KEK, kekVersion,
    alg: "RSA-OAEP-256", wrapped: (await kek.wrap(KEK, kekVersion, dek, "RSA-OAEP-256")).toString("base64url"),
    createdAt: new Date(0).toISOString(), state: "secondary",
  };
}

async function seed(store: DekStore, tenant: string, count: number): Promise<void> {
  const records = [];
  for (let i = 1; i <= count; i++) records.push(await record(tenant, i));
  await store.putMany(records);
}

const rewrapTo = (version: string): RewrapFn => async (d) => {
  const dek = await kek.unwrap(d.kekKeyId, d.kekVersion, Buffer.from(d.wrapped, "base64url"), d.alg);
  return kek.wrap(KEK, version, dek, "RSA-OAEP-256");
};

async function allDeks(store: DekStore, tenant: string): Promise<StoredDek[]> {
  const out: StoredDek[] = [];
  let continuation: string | undefined;
  do {
    const page = await store.scanRange(tenant, { continuation, limit: 1000 });
    out.push(...page.items);
    continuation = page.continuation;
  } while (continuation);
  return out;
}

async function unwrapsToOriginal(d: StoredDek): Promise<boolean> {
  const got = await kek.unwrap(d.kekKeyId, d.kekVersion, Buffer.from(d.wrapped, "base64url"), d.alg);
  return got.equals(plain.get(`${d.tenant}/${d.dekId}`)!);
}

describe("DekStore", () => {
  it("scans a tenant's range in pages with continuation, in dekId order, without the pointer row", async () => {
    const store = new DekStore(await freshTable("deks"));
    await seed(store, "contoso", 25);
    await store.addPrimary({ ...(await record("contoso", 26)), state: "primary" });
    const ids: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await store.scanRange("contoso", { continuation, limit: 10 });
      expect(page.items.length).toBeLessThanOrEqual(10);
      ids.push(...page.items.map((d) => d.dekId));
      continuation = page.continuation;
      pages++;
    } while (continuation);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(ids).toHaveLength(26);
    expect(ids).toEqual([...ids].sort());
    expect(ids).not.toContain(PRIMARY_ROW);
  });

  it("lists tenants from the index, paged, so a rewrap can fan out per tenant", async () => {
    const store = new DekStore(await freshTable("deks"));
    const tenants = ["alpha", "bravo", "charlie", "delta", "echo"];
    for (const t of tenants) await store.put(await record(t, 1));
    const first = await store.listTenants({ limit: 2 });
    expect(first.items).toEqual(["alpha", "bravo"]);
    expect(first.continuation).toBeDefined();
    const all: string[] = [];
    for await (const t of store.tenants(2)) all.push(t);
    expect(all).toEqual(tenants);
  });

  it("put is idempotent for the same record and refuses to overwrite a different one", async () => {
    const store = new DekStore(await freshTable("deks"));
    const r = await record("contoso", 1);
    await store.put(r);
    await store.put(r);
    await expect(store.put(await record("contoso", 1))).rejects.toMatchObject({ code: "DekExists" });
  });

  it("promotes a new primary DEK in one step: old one becomes secondary, pointer moves, repeat is a no-op", async () => {
    const store = new DekStore(await freshTable("deks"));
    const v1 = { ...(await record("contoso", 1)), state: "primary" as const };
    const v2 = { ...(await record("contoso", 2)), state: "primary" as const };
    expect(await store.addPrimary(v1)).toEqual({ promoted: true });
    expect(await store.addPrimary(v2)).toEqual({ promoted: true, previous: v1.dekId });
    expect(await store.addPrimary(v2)).toEqual({ promoted: false, previous: v2.dekId });
    expect((await store.getPrimary("contoso"))?.dekVersion).toBe(2);
    expect((await store.get("contoso", v1.dekId))?.state).toBe("secondary");
    await expect(store.addPrimary({ ...(await record("contoso", 1)), dekId: "other", state: "primary" })).rejects.toMatchObject({ code: "DekVersionStale" });
  });

  it("counts DEKs by KEK version across tenants and within one (the zero-reference proof)", async () => {
    const store = new DekStore(await freshTable("deks"));
    await seed(store, "alpha", 30);
    await seed(store, "bravo", 12);
    await store.put(await record("bravo", 13, NEW));
    expect(await store.countByKekVersion(KEK, OLD)).toBe(42);
    expect(await store.countByKekVersion(KEK, OLD, { tenant: "bravo" })).toBe(12);
    expect(await store.countByKekVersion(KEK, NEW)).toBe(1);
    expect(await store.countByKekVersion("kek:demo-vault/other", OLD)).toBe(0);
    expect(await store.countsByKekVersion(KEK)).toEqual({ [OLD]: 42, [NEW]: 1 });
  });

  it("rewraps a range under the new version in transactions, and every DEK still unwraps to its plaintext", async () => {
    const store = new DekStore(await freshTable("deks"));
    await seed(store, "contoso", 250);
    const page = await store.scanRange("contoso", { limit: 1000 });
    const counts = await store.rewrapBatch("contoso", page.items, { kekKeyId: KEK, kekVersion: NEW }, rewrapTo(NEW));
    expect(counts).toEqual({ rewrapped: 250, skipped: 0, conflicts: 0, missing: 0 });
    expect(await store.countByKekVersion(KEK, OLD)).toBe(0);
    const deks = await allDeks(store, "contoso");
    expect(deks.every((d) => d.kekVersion === NEW)).toBe(true);
    for (const d of deks) expect(await unwrapsToOriginal(d)).toBe(true);
  });

  it("skips DEKs already under the target version, so a repeated batch does nothing", async () => {
    const store = new DekStore(await freshTable("deks"));
    await seed(store, "contoso", 40);
    const items = (await store.scanRange("contoso")).items;
    await store.rewrapBatch("contoso", items.slice(0, 15), { kekKeyId: KEK, kekVersion: NEW }, rewrapTo(NEW));
    let calls = 0;
    const counting: RewrapFn = async (d) => {
      calls++;
      return rewrapTo(NEW)(d);
    };
    // a resumed range reads only what is left…
    const left = await store.scanRange("contoso", { notUnder: { kekKeyId: KEK, kekVersion: NEW } });
    expect(left.items).toHaveLength(25);
    // …and a replay with stale items (old ETags) skips the done ones after re-reading them
    const again = await store.rewrapBatch("contoso", items, { kekKeyId: KEK, kekVersion: NEW }, counting);
    expect(again.rewrapped).toBe(25);
    expect(again.skipped).toBe(15);
    const fresh = (await store.scanRange("contoso")).items;
    const replay = await store.rewrapBatch("contoso", fresh, { kekKeyId: KEK, kekVersion: NEW }, counting);
    expect(replay).toEqual({ rewrapped: 0, skipped: 40, conflicts: 0, missing: 0 });
    expect(calls).toBe(25 + 15);
  });

  it("never loses a concurrent update: a DEK changed during the batch (412) is re-read and rewrapped from its new contents", async () => {
    const table = await freshTable("deks");
    const store = new DekStore(table);
    await seed(store, "contoso", 120);
    // A second writer with its own client (another instance), changing two DEKs mid-batch.
    const other = new TableClient(azuriteUrl(), table.tableName, devstoreCredential, { allowInsecureConnection: true });
    const victims = [dekIdFor(7), dekIdFor(110)];
    const replacement = new Map<string, Buffer>();
    let interfered = false;
    const racing: RewrapFn = async (d) => {
      if (!interfered && d.dekId === dekIdFor(1)) {
        interfered = true;
        for (const id of victims) {
          const fresh = randomBytes(32);
          replacement.set(id, fresh);
          const wrapped = (await kek.wrap(KEK, OLD, fresh, "RSA-OAEP-256")).toString("base64url");
          await other.updateEntity({ partitionKey: "contoso", rowKey: id, wrapped, state: "revoked" }, "Merge");
        }
      }
      return rewrapTo(NEW)(d);
    };
    const items = (await store.scanRange("contoso")).items;
    const counts = await store.rewrapBatch("contoso", items, { kekKeyId: KEK, kekVersion: NEW }, racing);
    expect(counts.conflicts).toBeGreaterThanOrEqual(1);
    expect(counts.rewrapped).toBe(120);
    for (const id of victims) {
      const d = (await store.get("contoso", id))!;
      expect(d.kekVersion).toBe(NEW);
      expect(d.state).toBe("revoked");
      const dek = await kek.unwrap(KEK, NEW, Buffer.from(d.wrapped, "base64url"), "RSA-OAEP-256");
      expect(dek.equals(replacement.get(id)!)).toBe(true);
    }
    for (const d of await allDeks(store, "contoso")) {
      if (!victims.includes(d.dekId)) expect(await unwrapsToOriginal(d)).toBe(true);
    }
  });

  it("counts a DEK deleted during the batch as missing instead of resurrecting it", async () => {
    const table = await freshTable("deks");
    const store = new DekStore(table);
    await seed(store, "contoso", 5);
    const items = (await store.scanRange("contoso")).items;
    await table.deleteEntity("contoso", dekIdFor(3));
    const counts = await store.rewrapBatch("contoso", items, { kekKeyId: KEK, kekVersion: NEW }, rewrapTo(NEW));
    expect(counts).toMatchObject({ rewrapped: 4, missing: 1 });
    expect(await store.get("contoso", dekIdFor(3))).toBeUndefined();
  });
});
