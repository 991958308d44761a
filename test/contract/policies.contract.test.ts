// The policy contract against the memory policy store the workflow tests use and the Table Storage
// policy store on Azurite.
import { MemoryPolicyStore } from "../../lib/orchestration/memory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { freshTable } from "../support/tables";
import { policiesContract } from "./policiesContract";

policiesContract("memory", "MemoryPolicyStore", async () => ({ policies: new MemoryPolicyStore() }));

policiesContract("real", "PolicyStore (Table Storage on Azurite)", async () => ({ policies: new PolicyStore(await freshTable("policies")) }));
