// Orchestrator dekFanOutOrchestrator: the workflow lives in lib/orchestration/workflows.ts.
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { dekFanOutOrchestrator } from "../lib/orchestration/workflows";

df.app.orchestration(DURABLE.orchestrators.dekFanOut, dekFanOutOrchestrator);

export { dekFanOutOrchestrator };
