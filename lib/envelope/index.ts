// Envelope encryption for consumer services and the DEK workflow.
export * from "./dekRecord";
export * from "./kek";
export * from "./resolver";
export * from "./envelope";
export * from "./branchKeyCache";
export * from "./hierarchyResolver";
