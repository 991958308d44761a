// Orchestrator rollbackOrchestrator: the workflow lives in lib/orchestration/workflows.ts.
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { rollbackOrchestrator } from "../lib/orchestration/workflows";

df.app.orchestration(DURABLE.orchestrators.rollback, rollbackOrchestrator);

export { rollbackOrchestrator };
