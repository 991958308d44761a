// Profiling helper (not a bench; the leading "_" keeps it out of bench/run.ts): what Azurite's
// Table service spends, wall clock and its own CPU, per query kind and per transaction kind at N
// rows (docs/key-hierarchy.md "Where the emergency's time goes").
//   npx tsx bench/_profileAzurite.ts 200000
// To profile Azurite itself, start it by hand under `node --cpu-prof` and pass AZ_PORT / AZ_PID.
import { randomBytes } from "node:crypto";
import { AzureNamedKeyCredential, odata, TableClient, type TransactionAction } from "@azure/data-tables";
import { DEVSTORE_ACCOUNT, DEVSTORE_KEY, startAzuriteTables } from "../dev/peers/azurite/launcher";
import { forEachLimited } from "../lib/hierarchy/pace";
import { cpuMsOf } from "./_proc";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200000);
  const tenants = 2000;
  const az = process.env.AZ_PORT ? { url: `http://127.0.0.1:${process.env.AZ_PORT}/devstoreaccount1`, pid: Number(process.env.AZ_PID), stop: async () => undefined } : await startAzuriteTables();
  const t = new TableClient(az.url, "prof", new AzureNamedKeyCredential(DEVSTORE_ACCOUNT, DEVSTORE_KEY), { allowInsecureConnection: true });
  await t.createTable();
  const wrapped = randomBytes(60).toString("base64url");
  const per = n / tenants;
  const batches: { pk: string; from: number; n: number }[] = [];
  for (let p = 0; p < tenants; p++) for (let i = 0; i < per; i += 100) batches.push({ pk: `t${String(p).padStart(6, "0")}`, from: i, n: Math.min(100, per - i) });
  const time = async (label: string, fn: () => Promise<unknown>) => {
    const c0 = cpuMsOf(az.pid)!; const s = performance.now();
    const r = await fn();
    process.stdout.write(`${label}: ${(performance.now() - s).toFixed(0)} ms wall, azurite cpu ${cpuMsOf(az.pid)! - c0} ms ${r === undefined ? "" : JSON.stringify(r)}\n`);
  };
  await time(`seed ${n}`, () => forEachLimited(batches, 8, async (b) => {
    await t.submitTransaction(Array.from({ length: b.n }, (_, i): TransactionAction => ["upsert", {
      partitionKey: b.pk, rowKey: `v${String(b.from + i + 1).padStart(8, "0")}`, format: 2, tenant: b.pk, dekVersion: b.from + i + 1, kekKeyId: "kek:v/k", branchId: "s256-00001", branchVersion: 1, alg: "A256GCM", wrapped, createdAt: new Date().toISOString(), state: "secondary",
    }, "Replace"]));
  }));
  const page = async (filter: string | undefined, cont?: string, select?: string[]) => {
    const it = t.listEntities({ queryOptions: { ...(filter ? { filter } : {}), ...(select ? { select } : {}) } }).byPage({ maxPageSize: 1000, ...(cont ? { continuationToken: cont } : {}) });
    const f = await it.next();
    return f.done ? { n: 0, c: undefined } : { n: f.value.length, c: f.value.continuationToken };
  };
  let mid: string | undefined;
  { let c: string | undefined; for (let i = 0; i < 100; i++) { c = (await page(undefined, c, ["RowKey"])).c; } mid = c; }
  await time("page 1, filter kekKeyId", () => page(odata`kekKeyId eq ${"kek:v/k"}`).then((p) => p.n));
  await time("page mid, filter kekKeyId", () => page(odata`kekKeyId eq ${"kek:v/k"}`, mid).then((p) => p.n));
  await time("page 1, no filter", () => page(undefined).then((p) => p.n));
  await time("page mid, no filter", () => page(undefined, mid).then((p) => p.n));
  await time("page 1, PK range filter", () => page(odata`PartitionKey ge ${"t"} and PartitionKey lt ${"u"}`).then((p) => p.n));
  await time("zero-match filter (count of leftovers)", () => page(odata`kekKeyId eq ${"kek:v/k"} and branchVersion lt ${1}`).then((p) => p.n));
  await time("page 1, PK eq (one tenant)", () => page(odata`PartitionKey eq ${"t000005"}`).then((p) => p.n));
  const read = async (pk: string) => { const out: Record<string, unknown>[] = []; for await (const e of t.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) out.push(e); return out; };
  const tenantsToDo = Array.from({ length: 40 }, (_, i) => `t${String(100 + i).padStart(6, "0")}`);
  const rows = await Promise.all(tenantsToDo.map(read));
  await time("20 batches Merge If-Match", async () => { for (const r of rows.slice(0, 20)) await t.submitTransaction(r.map((e): TransactionAction => ["update", { partitionKey: e.partitionKey as string, rowKey: e.rowKey as string, branchVersion: 2, wrapped }, "Merge", { etag: e.etag as string }])); });
  await time("20 batches Replace If-Match (full entity)", async () => { for (const r of rows.slice(20, 40)) await t.submitTransaction(r.map((e): TransactionAction => { const { etag, timestamp: _t, ...rest } = e; return ["update", { ...(rest as { partitionKey: string; rowKey: string }), branchVersion: 2, wrapped }, "Replace", { etag: etag as string }]; })); });
  const rows2 = await Promise.all(tenantsToDo.map(read));
  await time("20 batches Merge If-Match (again, other rows)", async () => { for (const r of rows2.slice(20, 40)) await t.submitTransaction(r.map((e): TransactionAction => ["update", { partitionKey: e.partitionKey as string, rowKey: e.rowKey as string, branchVersion: 3, wrapped }, "Merge", { etag: e.etag as string }])); });
  await az.stop();
}
main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
