// The DEK contract against the memory DEK store the workflow tests use and the rotation engine's
// Table Storage DEK port (lib/orchestration/tableDeks.ts over lib/stores/dekStore.ts) on Azurite,
// both seeded with the same records (the stored shape).
import { MemoryDekStore } from "../../lib/orchestration/memory";
import { TableDekPort } from "../../lib/orchestration/tableDeks";
import { freshTable } from "../support/tables";
import { deksContract } from "./deksContract";

deksContract("memory", "MemoryDekStore", async () => {
  const deks = new MemoryDekStore();
  return { deks, seed: async (records) => records.forEach((r) => deks.insert(r)) };
});

deksContract("real", "TableDekPort (Table Storage on Azurite)", async () => {
  const deks = new TableDekPort(await freshTable("deks"));
  return { deks, seed: async (records) => void (await deks.store.putMany(records)) };
});
