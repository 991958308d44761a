// Every durable function name in one place: orchestrators, activities and entities are looked up
// by these strings in orchestration history, so renaming one is a breaking change for in-flight
// rotations (the host flags it as non-determinism).
export const DURABLE = {
  orchestrators: {
    rotation: "rotationOrchestrator",
    rewrap: "rewrapOrchestrator",
    dekFanOut: "dekFanOutOrchestrator",
    retirement: "retirementOrchestrator",
    rollback: "rollbackOrchestrator",
  },
  activities: {
    loadRotationContext: "loadRotationContext",
    recordStep: "recordStep",
    createKeyVersion: "createKeyVersion",
    promoteVersion: "promoteVersion",
    listTenants: "listTenants",
    rewrapRange: "rewrapRange",
    countReferences: "countReferences",
    disableVersion: "disableVersion",
    rotateTenantDek: "rotateTenantDek",
    publishJwks: "publishJwks",
    setKeyOps: "setKeyOps",
    createSecretVersion: "createSecretVersion",
    sealLedger: "sealLedger",
    claimFence: "claimFence",
    readFence: "readFence",
  },
  entities: {
    keyLock: "keyLock",
  },
} as const;

/** Lock entity operations. */
export const LOCK_OPS = { tryAcquire: "tryAcquire", release: "release", renew: "renew", forceRelease: "forceRelease" } as const;
