import { durableSafeId } from "../domain/durableIds";

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
    /** A validation gate on a new version (lib/validation). */
    validateVersion: "validateVersion",
    /** Key hierarchy (lib/hierarchy/durableActivities.ts): one bounded slice of a KEK rotation's
     * branch-key re-wrap, or of an emergency's branch-key replacement. */
    hierarchyKekRotation: "hierarchyKekRotation",
    hierarchyEmergency: "hierarchyEmergency",
    /** Key hierarchy: one page of tenants' format-1 DEKs moved under branch keys. */
    hierarchyMigration: "hierarchyMigration",
    hierarchyBranchRotation: "hierarchyBranchRotation",
  },
  entities: {
    keyLock: "keyLock",
  },
} as const;

/** Activities that read the durable runtime itself through a durable client binding (registered in
 * their function file, not run through handlers.ts's deps). */
export const CLIENT_ACTIVITIES = {
  instanceStatus: "instanceStatus",
} as const;

/** Lock entity operations. */
export const LOCK_OPS = { tryAcquire: "tryAcquire", release: "release", renew: "renew", forceRelease: "forceRelease" } as const;

/** The instance id of a rotation (and of any orchestration the app starts by a deterministic id).
 *
 * Why ids that need no encoding: durable-functions 3.x's DurableClient pastes instance ids and
 * entity keys into its request paths as they are (`new URL(\`instances/${id}\`, rpcBaseUrl)` for
 * startNew, getStatus, terminate, raiseEvent, readEntityState, signalEntity), and the Durable
 * extension's local RPC endpoint URL-decodes that path twice (Kestrel, then the route value;
 * dev/durable-runtime/README.md). The former form escaped "/" as "%2F", so every KEK rotation
 * ("kek:vault/name@…") was answered 404 on start and status there, and a client-side encoding fit
 * for that endpoint would be wrong for the management webhooks. Ids of only A-Z a-z 0-9 - . : @ ~
 * plus "_XX" escapes (durableSafeId) read the same through any number of decodings, so no client
 * call encodes anything. Readable and deterministic: "kek:demo-vault_2Ftenant-kek@manual:…".
 *
 * Old ids: rotationIds are built from validated keyIds, tenants, slots, versions and request ids
 * ([A-Za-z0-9-:.@/]), so the only character whose form changed is "/"; every id that held it was
 * refused by the real endpoint, so no stored instance carries an old escaped id. The lock entity
 * key (lockEntityKey) uses the same escape for the same reason. */
export function instanceIdFor(rotationId: string): string {
  return durableSafeId(rotationId);
}
