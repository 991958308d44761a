// The fence contract against the memory fence rows the workflow tests use and the Table Storage rows on Azurite.
import { MemoryFenceStore } from "../../lib/orchestration/fence";
import { TableFenceStore } from "../../lib/stores/fenceStore";
import { freshTable } from "../support/tables";
import { fencesContract } from "./fencesContract";

fencesContract("memory", "MemoryFenceStore", async () => ({ fences: new MemoryFenceStore() }));

fencesContract("real", "TableFenceStore (Table Storage on Azurite)", async () => ({ fences: new TableFenceStore(await freshTable("locks")) }));
