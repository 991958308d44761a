// The approvals contract against the memory approvals the API tests use and the Table Storage store on Azurite.
import { MemoryApprovals } from "../../lib/api/memory";
import { ApprovalStore } from "../../lib/stores/approvals";
import { freshTable } from "../support/tables";
import { approvalsContract } from "./approvalsContract";

approvalsContract("memory", "MemoryApprovals", async () => ({ approvals: new MemoryApprovals() }));

approvalsContract("real", "ApprovalStore (Table Storage on Azurite)", async () => ({ approvals: new ApprovalStore(await freshTable("approvals")) }));
