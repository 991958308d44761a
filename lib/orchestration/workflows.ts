// The durable orchestrators and their history types, one import for functions/ and lib/api.
// Each flow is its own file under ./flows: frame.ts (lock, record, phase, propagation wait),
// act.ts (the one activity call), then kek, dek, signing, secret, retirement, rollback, dekFanOut.
export { rotationOrchestrator } from "./flows/rotation";
export { retirementOrchestrator } from "./flows/retirement";
export { rollbackOrchestrator } from "./flows/rollback";
export { dekFanOutOrchestrator, DekFanOutSchema } from "./flows/dekFanOut";
export { rewrapOrchestrator, RewrapLegSchema, type RewrapLegInput } from "./rewrap";
export {
  MaintenanceInputSchema, RotationInputSchema, type RotationInput, type RotationOutput, type RotationRequest, type RotationStatus,
} from "./flows/types";
export { act } from "./flows/act";
export { instanceIdFor } from "./names";
