// The inventory contract against the memory inventory the workflow tests use and the Table Storage
// inventory on Azurite.
import { MemoryInventory, MemoryPolicyStore } from "../../lib/orchestration/memory";
import { Inventory } from "../../lib/stores/inventory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { freshTable } from "../support/tables";
import { inventoryContract } from "./inventoryContract";

inventoryContract("memory", "MemoryInventory", async () => {
  const policies = new MemoryPolicyStore();
  return { inventory: new MemoryInventory(policies), policies };
});

inventoryContract("real", "Inventory (Table Storage on Azurite)", async () => {
  const policies = new PolicyStore(await freshTable("policies"));
  return { inventory: new Inventory(await freshTable("inventory"), policies), policies };
});
