// Orchestrator retirementOrchestrator: the workflow lives in lib/orchestration/workflows.ts.
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { retirementOrchestrator } from "../lib/orchestration/workflows";

df.app.orchestration(DURABLE.orchestrators.retirement, retirementOrchestrator);

export { retirementOrchestrator };
