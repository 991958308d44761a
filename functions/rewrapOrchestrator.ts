// Orchestrator rewrapOrchestrator: owns a vault's rewrap budget (lib/orchestration/rewrap).
import * as df from "durable-functions";
import { DURABLE } from "../lib/orchestration/names";
import { rewrapOrchestrator } from "../lib/orchestration/rewrap";

df.app.orchestration(DURABLE.orchestrators.rewrap, rewrapOrchestrator);

export { rewrapOrchestrator };
