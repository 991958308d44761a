// The KEK rewrap: orchestrators, the range activity, its dependencies and its durable types.
export { rewrapAll, rewrapOrchestrator, type RewrapHooks, type RewrapPassResult, type RewrapRequest } from "./orchestrator";
export { rewrapRange, runRewrapRange, planRewrap, tenantsPage, rewrapCursors, unwrapConcurrency } from "./range";
export {
  fromRotationDeps, keyVaultRewrapVault, realRewrapDeps,
  type RewrapDeps, type RewrapVault,
} from "./deps";
export * from "./types";
export { currentRate, legSize, planWave, progressOf, sharePerRange } from "./plan";
