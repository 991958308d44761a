// Orchestrator rewrapOrchestrator: the workflow lives in lib/orchestration/workflows.ts.
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { rewrapOrchestrator } from "../lib/orchestration/workflows";

df.app.orchestration(DURABLE.orchestrators.rewrap, rewrapOrchestrator);

export { rewrapOrchestrator };
