// Orchestrator rotationOrchestrator: the workflow lives in lib/orchestration/workflows.ts.
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { rotationOrchestrator } from "../lib/orchestration/workflows";

df.app.orchestration(DURABLE.orchestrators.rotation, rotationOrchestrator);

export { rotationOrchestrator };
